"""Media objects (init sections, parts, segments, playlists, replays) behind `base.BlobStore`."""
