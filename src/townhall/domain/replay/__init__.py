"""The replay's evidence, one module each: the hash chain over segments and its gaps (`chain`), the signed
manifest (`manifest`), the platform's keys as JWKs (`jwk`), the VOD playlist (`playlist`), and the
verification that names which segment was changed, dropped, added or reordered (`verification`).

Pure: no I/O, no clock. The chain format is decision 0005; changing a byte of it breaks every replay.
"""
