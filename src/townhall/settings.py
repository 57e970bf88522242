"""Every setting townhall has: its type, default and TOWNHALL_* environment variable.

This is the only module that reads the environment. Secrets are never defaults: they are generated
into the data directory on first run (see `secrets.py`) or given through the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOWNHALL_", extra="ignore")

    # --- where things live --------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="SQLite file, secrets, blobs of the embedded default")
    database_url: str = Field(
        "", description="sqlite+aiosqlite:///... or postgresql+asyncpg://...; empty means a SQLite file in data_dir"
    )
    state_url: str = Field(
        "memory://",
        description="hot state: memory://, redis://host:port/db or redis+cluster://host:port (any cluster node)",
    )
    state_prefix: str = Field("th:", description="prefix of every Redis key and channel (isolates deployments)")
    state_max_connections: int = Field(64, description="Redis connections per process; a burst waits for one")
    blob_url: str = Field("", description="media parts: file:///path or s3://bucket/prefix; empty means data_dir/blobs")
    blob_s3_endpoint: str = Field(
        "", description="S3-compatible endpoint (MinIO, Garage: http(s)://host:port); empty means AWS S3 of the region"
    )
    blob_s3_region: str = "us-east-1"
    blob_s3_access_key_id: str = Field(
        "", description="empty: the driver's own AWS chain (AWS_* variables, instance profile)"
    )
    blob_s3_secret_access_key: str = Field("", description="given through the environment, never a file in the repo")
    blob_s3_timeout_s: float = Field(10.0, description="longest one S3 request (retries included) may take")
    blob_s3_retries: int = Field(2, description="retries of a failed S3 request before it is reported unavailable")

    # --- HTTP ---------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = Field("", description="base URL users reach the control plane at; empty means http://host:port")
    listener_base_url: str = Field(
        "", description="base URL listeners fetch the stream from (the edge); empty means the origin itself"
    )
    internal_port: int = Field(
        0,
        ge=0,
        description="a second port the same server answers on, for the edge and operators only (firewalled, or "
        "bound to a private address: internal_host); its own accept queue, so a flood of connections to the public "
        "port cannot keep the edge from connecting; 0: none",
    )
    internal_host: str = Field("127.0.0.1", description="the address internal_port binds")
    delivery_port: int = Field(
        0,
        ge=0,
        description="a port on internal_host for the edge's live media fetches only (playlists, parts, segments), "
        "served on a thread and event loop of their own so that load on the API cannot delay them; the edge "
        "fetches live media there when set (the embedded form and `townhall api`; decision 0007); 0: none",
    )
    max_body_bytes: int = 64 * 1024
    body_idle_s: float = Field(15.0, description="a request body that stops arriving this long is answered 408")
    # priority admission (api/shedding.py): requests in flight per lane, past which the lane is refused 503
    shed_public_inflight: int = Field(
        128, ge=1, description="anonymous requests and joins in flight at most; more are refused 503 first"
    )
    shed_listener_inflight: int = Field(
        256, ge=1, description="requests with a listener token or the edge's credential in flight at most"
    )
    shed_staff_inflight: int = Field(
        512, ge=1, description="requests of signed-in accounts and speakers (WHIP) in flight at most"
    )
    shed_loop_lag_ms: float = Field(
        150.0, gt=0, description="past this event-loop lag (queueing delay), anonymous requests and joins are refused"
    )
    shed_retry_after_s: int = Field(2, ge=1, description="Retry-After of a request refused as overload")
    public_read_lag_ms: float = Field(
        50.0,
        gt=0,
        description="with an internal port for the edge, past this event-loop lag the public port stops reading "
        "requests until the loop catches up (a flood straight at it then waits in the kernel, not on the loop)",
    )
    public_reads_per_s: float = Field(
        1000.0, gt=0, description="with an internal port for the edge, the most requests a second the public port reads"
    )
    country_header: str = Field(
        "X-Country-Code", description="request header carrying the listener's ISO country code, set by the edge or CDN"
    )
    log_level: str = "info"

    # --- secrets (generated into data_dir when empty) -----------------------------------------
    token_keys: str = Field("", description="listener/speaker token keys as kid:hex,kid:hex; the first signs")
    edge_secret: str = Field(
        "", description="what edges prove themselves to the origin with (32-128 of A-Za-z0-9_-); shared by every tier"
    )

    # --- accounts and sessions ----------------------------------------------------------------
    session_ttl_s: int = 30 * 86400
    password_min: int = 8
    password_max: int = 256
    password_hash_time_cost: int = Field(3, description="argon2id passes")
    password_hash_memory_kib: int = Field(65536, description="argon2id memory per hash, KiB")
    register_per_minute_per_ip: int = 20
    login_per_minute_per_ip: int = 30

    # --- spaces, roles, admission -------------------------------------------------------------
    title_max: int = 140
    listener_cap_max: int = 10_000_000
    listener_token_ttl_s: int = Field(
        300, description="listener token lifetime; each lease renewal gives a fresh one (revocations last this long)"
    )
    speaker_token_ttl_s: int = 6 * 3600
    lease_ttl_s: float = Field(45.0, description="a listener who stops renewing frees the seat this long after")
    open_lease_ttl_s: float = Field(
        120.0, description="an open space's (no cap, no pace) presence lease: nobody waits for the seat (0012)"
    )
    presence_shards: int = Field(
        16, ge=1, le=4096, description="seat books an open space's audience is spread over (a Redis slot each)"
    )
    wait_ticket_ttl_s: float = Field(
        300.0, description="a place in the waiting room is held this long after the last poll (at least 5 minutes)"
    )
    waiting_ticket_ttl_s: int = Field(
        6 * 3600, description="a waiting-room ticket (the page keeps it) is valid this long"
    )
    admissions_per_minute_default: int = Field(
        60_000, description="new admissions a minute of a space that sets none (the waiting room's pace)"
    )
    admissions_per_minute_max: int = 1_000_000
    under_attack: bool = Field(False, description="every space's joins need a proof of work (decision 0010)")
    pow_difficulty_bits: int = Field(16, description="leading zero bits of SHA-256 a join's proof of work needs")
    pow_challenge_ttl_s: int = Field(120, description="a proof-of-work challenge is valid this long")
    joins_per_minute_per_ip: int = 600
    speak_requests_max: int = 100
    speak_requests_per_minute: int = 3
    reactions_per_minute: int = 60
    reaction_window_s: int = 10
    room_state_max_age_s: int = 1
    spaces_per_hour_per_account: int = 30
    unattended_end_s: float = Field(
        300.0, description="a live space with nobody on stage (publishing) this long ends by itself; 0 never"
    )
    list_limit_max: int = 100

    # --- the scaled-out form: media nodes in their own processes (docs/decisions/0008) ---------
    node_id: str = Field("", description="this media node's name in the cluster; empty means host-pid")
    node_url: str = Field("", description="where API processes reach this media node; empty means http://host:port")
    media_lease_ttl_s: float = Field(2.5, description="a dead media node's spaces are claimed this long after")
    media_lease_grace_s: float = Field(
        10.0, description="while Redis cannot be reached, a media node keeps its spaces this long after a renewal"
    )
    media_roster_reconcile_s: float = Field(
        1.0, description="a media node re-reads its publishers' mute and speaking rights from the database this often"
    )

    # --- media (WHIP ingest, mixer, LL-HLS; see docs/decisions/0003) --------------------------
    media_part_frames: int = Field(10, description="AAC frames per LL-HLS part (10 = 213 ms)")
    media_parts_per_segment: int = Field(9, description="parts per segment (9 x 213 ms = 1.92 s)")
    media_playlist_segments: int = Field(8, description="complete segments in the live playlist window")
    media_aac_bit_rate: int = 64_000
    media_opus_bit_rate: int = Field(32_000, description="mix-minus sent back to each speaker, mono")
    media_opus_complexity: int = Field(0, description="libopus complexity 0-10 for the mix-minus")
    media_forward_pairs: bool = Field(True, description="two-speaker rooms forward each other's packets")
    media_gate_dbfs: float = Field(-55.0, description="below this a voice adds nothing to the mix")
    media_speaking_dbfs: float = Field(-42.0, description="smoothed level over which a voice is speaking")
    media_jitter_frames: int = Field(10, description="20 ms frames buffered per voice (bursts) before dropping")
    whip_sdp_max_bytes: int = Field(16 * 1024, description="largest SDP offer accepted")
    whip_offers_per_second: int = Field(2, description="WHIP offers per account per second")
    whip_publishers_max: int = Field(13, description="open WHIP peer connections per space")

    # --- edge (Varnish in front of the origin) ------------------------------------------------
    edge_host: str = Field("127.0.0.1", description="address `townhall edge` listens on")
    edge_port: int = 8081
    edge_origin_url: str = Field(
        "", description="what the edge fetches from: the origin, or a shield; empty means http://host:port"
    )
    edge_staff_url: str = Field(
        "",
        description="where the edge sends requests signed in with a session or speaker token it verified "
        "(hosts, speakers, moderators, WHIP): an API process of their own that no public request reaches; "
        "empty means the same origin as everything else",
    )
    edge_role: str = Field(
        "edge",
        description="edge: checks listener tokens and per-address limits; "
        "shield: a cache tier that only edges reach (no token check, no limits)",
    )
    edge_work_dir: str = Field("", description="varnishd working directory (-n); empty means data_dir/edge")
    edge_varnishd: str = "/usr/sbin/varnishd"
    edge_storage: str = Field("malloc,256m", description="varnishd -s argument")
    edge_first_byte_timeout_s: float = Field(15.0, description="must exceed the origin's longest blocking-reload hold")
    edge_live_ttl_s: float = Field(1.0, description="cap on playlists and state.json in the edge cache")
    edge_revocation_ttl_s: float = Field(
        1.0,
        description="how old the edge's copy of a space's revoked listener tokens may be (0: no list; "
        "the token lifetime alone bounds a removal)",
    )
    revocation_fresh_s: float = Field(
        1.0,
        ge=0,
        description="how old an API process's copy of a space's revoked listener tokens may be when a renewal "
        "or the origin's token gate reads it (decision 0012; 0: looked up on every request)",
    )
    edge_error_ttl_s: float = Field(0.25, description="how long the edge keeps a 4xx/5xx from the origin")
    edge_immutable_ttl_s: int = Field(3600, description="how long the edge keeps parts and segments")
    edge_public_connections: int = Field(
        64, ge=1, description="origin connections an edge uses at most for anonymous API requests and joins"
    )
    edge_requests_per_ip: int = Field(600, description="requests per address per period; 0 turns it off")
    edge_rate_period_s: int = 10
    edge_metrics_port: int = Field(9131, description="`townhall edge` serves Prometheus metrics here; 0: off")
    edge_threads_min: int = Field(
        500,
        description="varnishd worker threads kept per pool (2 pools): LL-HLS "
        "listeners all ask at once when a part lands",
    )
    edge_thread_queue_limit: int = Field(
        5000, description="requests queued per pool for a thread before varnishd drops them"
    )

    # --- trust and safety (EU DSA: notices, decisions, appeals, withholding, misuse, audit) -----
    notices_per_hour_per_reporter: int = Field(20, description="notices one reporter (account or address) may send")
    notice_items_max: int = Field(50, description="items one notice may name (Recital 50)")
    notice_explanation_max: int = 5000
    appeal_window_months: int = Field(6, description="how long a decision can be appealed (Art. 20: at least six)")
    misuse_window_days: int = Field(90, description="strikes older than this no longer count (Art. 23)")
    misuse_strikes_to_warn: int = Field(3, description="strikes within the window that earn a warning")
    misuse_suspend_days: int = Field(7, description="first suspension after a warning")
    misuse_repeat_suspend_days: int = Field(30, description="suspension for a strike after a first suspension")
    misuse_notifier_min_share: float = Field(
        0.5, description="share of a notifier's notices in the window that must be manifestly unfounded"
    )
    withholding_refresh_s: float = Field(2.0, description="how stale the cached view of withholdings may be")
    geoip_database: str = Field("", description="path to a GeoIP2/GeoLite2 Country .mmdb; empty means header only")
    geo_trusted_proxies: str = Field(
        "", description="comma-separated peer addresses whose country header is trusted; empty trusts every peer"
    )
    dsa_terms_url: str = Field("", description="URL of the terms and conditions cited in statements of reasons")
    dsa_tdb_url: str = Field(
        "", description="Transparency Database API base, e.g. https://transparency.dsa.ec.europa.eu/api/v1; empty: off"
    )
    dsa_tdb_token: str = Field("", description="bearer token of the platform's Transparency Database account")
    dsa_tdb_every_s: float = Field(60.0, description="how often pending statements are submitted (batches of 100)")

    # --- recording and counting (replay, hash chain, clips, listens and views) ------------------
    replay_retention_days: float = Field(
        30.0, description="recordings whose replay is not published are kept this long for review, then deleted"
    )
    replay_publish_wait_s: float = Field(
        15.0, description="how long to wait for the media node's last segments before publishing a replay"
    )
    replay_keys_file: str = Field(
        "", description="Ed25519 replay signing keys (JSON); empty means data_dir/replay-keys.json, made on first run"
    )
    recording_sweep_s: float = Field(3600.0, description="how often expired recordings and counting keys are swept")
    clip_max_s: float = Field(60.0, description="longest clip a listener may cut")
    clips_per_hour_per_viewer: int = 20
    count_peak_sample_s: float = Field(5.0, description="peak concurrent listeners are sampled this often")
    count_viewer_secret: str = Field(
        "", description="hex key of the viewer-key MAC; empty means one generated into data_dir (rotate yearly)"
    )
    beacon_events_max: int = Field(100, description="events one beacon request may carry")
    beacons_per_minute_per_ip: int = 120
