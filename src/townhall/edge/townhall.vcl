vcl 4.1;
# townhall edge, rendered by townhall.edge.varnish from settings (role: @{role}). Do not edit the
# rendered copy: change the template or the settings. The listener token is checked here, with no
# call to Python per request; it never reaches the cache key or the origin.

import std;
import digest;
import vsthrottle;

backend origin {
    .host = "@{origin_host}";
    .port = "@{origin_port}";
    .connect_timeout = 2s;
    # Longer than the origin's longest blocking-reload hold, or held listeners get 503s.
    .first_byte_timeout = @{first_byte_timeout};
    .between_bytes_timeout = @{first_byte_timeout};
}

# The live media (playlists, parts, segments): the origin's delivery port when it has one, a server
# on a thread and loop of its own that load on the API cannot delay; else the origin itself.
backend delivery {
    .host = "@{delivery_host}";
    .port = "@{delivery_port}";
    .connect_timeout = 2s;
    .first_byte_timeout = @{first_byte_timeout};
    .between_bytes_timeout = @{first_byte_timeout};
}

# The staff lane: requests signed in with a session or a speaker token this edge verified (hosts,
# co-hosts, speakers, moderators, WHIP). An API process of their own when `edge_staff_url` is set, which
# nothing else reaches, so a flood at the public API cannot hold up a host; else the origin.
backend staff {
    .host = "@{staff_host}";
    .port = "@{staff_port}";
    .connect_timeout = 2s;
    .first_byte_timeout = @{first_byte_timeout};
    .between_bytes_timeout = @{first_byte_timeout};
}

# The same origin, as a pool of its own for anonymous API requests and every join (the work the origin
# sheds first): capped, so a flood through the edge holds at most this many origin connections, and
# is answered 503 + Retry-After here once they are all busy; signed-in requests and live media keep
# the pool above (docs/architecture.md, "Shedding load").
backend origin_public {
    .host = "@{origin_host}";
    .port = "@{origin_port}";
    .connect_timeout = 2s;
    .first_byte_timeout = @{first_byte_timeout};
    .between_bytes_timeout = @{first_byte_timeout};
    .max_connections = @{public_connections};
}

sub townhall_recv_first {
    # Internal headers are ours alone: a client can never set them (a restart keeps ours).
    unset req.http.X-TH-Token;
    unset req.http.X-TH-Body;
    unset req.http.X-TH-Mac;
    unset req.http.X-TH-Query;
    unset req.http.X-TH-Cache;
    unset req.http.X-TH-Message;
    unset req.http.X-TH-Path;
    unset req.http.X-TH-Subject;
    unset req.http.X-TH-Media;
    unset req.http.X-TH-Checked;
}

sub vcl_recv {
    if (req.restarts == 0) {
        call townhall_recv_first;
    }
@{edge_credential_recv}
    if (req.url == "/_edge/health") {
        # Lets a log reader (townhall.edge.metrics) see that it is attached.
        std.log("th-health");
        return (synth(200, "ok"));
    }
    if (req.restarts == 0) {
@{rate_limit}
    }
    call townhall_normalise_url;
    if (req.url ~ "^/api/clock(\?|$)" && (req.method == "GET" || req.method == "HEAD")) {
        # The players' clock (DASH UTCTiming, decision 0011): the edge's own time, never cached and
        # never the origin's, so it costs the origin nothing however many listeners ask.
        return (synth(200, "clock"));
    }

    if (req.http.Upgrade) {
        # The one upgrade a client needs is the authenticated events socket; anything else would
        # turn this connection into a pipe that the checks below never see.
        if (req.http.Upgrade ~ "^(?i)websocket$" && req.method == "GET" &&
            req.url ~ "^/api/spaces/[A-Za-z0-9_-]{1,64}/events(\?|$)") {
            # A host's events (requests to speak) keep the staff lane too; the page sends its session
            # as ?access_token= (a browser cannot set headers on a WebSocket).
            if (req.http.Authorization) {
                set req.http.X-TH-Token = regsub(req.http.Authorization, "^[Bb]earer +", "");
            } else {
                set req.http.X-TH-Token = regsub(req.url, "^[^?]*(\?(.*&)?access_token=([^&]*))?.*$", "\3");
            }
            call townhall_lane;
            if (req.backend_hint == origin_public) {
                # a socket lives long: never in the capped pool, whose connections it would hold
                set req.backend_hint = origin;
            }
            return (pipe);
        }
        return (synth(400, "upgrade_refused"));
    }

    # The token travels in the path (/e/<token>/live/...), a ?t= query or the th_t cookie.
    if (req.url ~ "^/e/[^/]*/") {
        set req.http.X-TH-Token = regsub(req.url, "^/e/([^/]*)/.*$", "\1");
        set req.url = regsub(req.url, "^/e/[^/]*", "");
        if (req.url !~ "^/live/") {
            # A token only ever prefixes live media; anything else is a way around the cache.
            return (synth(404, "not_found"));
        }
    } elsif (req.url ~ "[?&]t=") {
        set req.http.X-TH-Token = regsub(req.url, "^[^?]*\?(.*&)?t=([^&]*).*$", "\2");
    } elsif (req.http.Cookie ~ "(^|;\s*)th_t=") {
        set req.http.X-TH-Token = regsub(req.http.Cookie, "^(.*;\s*)?th_t=([^;]*).*$", "\2");
    }

    if (req.url ~ "^/(metrics|healthz|readyz|_edge|e)(/|\?|$)") {
        # The origin's operations endpoints are for its operators, not for the internet.
        return (synth(404, "not_found"));
    }
    if (req.url ~ "^/live/[^/?]+/revoked(\?|$)") {
        # Who was removed from a space is for the edge's own lookup, not for listeners.
        return (synth(404, "not_found"));
    }
    if (req.url !~ "^/(live|replay)/") {
        # Everything else (API, pages) goes to the origin untouched and uncached.
        unset req.http.X-TH-Token;
        if (req.http.Authorization && req.url !~ "^/api/spaces/[^/?]+/join(\?|$)") {
            set req.http.X-TH-Token = regsub(req.http.Authorization, "^[Bb]earer +", "");
            call townhall_lane;
        } else {
            set req.backend_hint = origin_public;
        }
        return (pass);
    }
    if (req.method == "OPTIONS") {
        return (synth(204, "preflight"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (synth(405, "method_not_allowed"));
    }
    if (req.url ~ "^/live/" && @{is_edge}) {
        if (req.http.X-TH-Checked != "yes") {
            call townhall_check_token;
@{revocation_recv}
        }
    } elsif (req.url ~ "^/live/") {
        call townhall_check_edge;
    }
    call townhall_cache_url;
    if (req.url ~ "^/live/[^/?]+/(master\.m3u8|media\.m3u8|init\.mp4|chunked\.mpd|[^/?]+\.m4s)(\?|$)") {
        set req.backend_hint = delivery;
    } else {
        set req.backend_hint = origin;
    }
    unset req.http.X-TH-Token;
    unset req.http.X-TH-Body;
    unset req.http.X-TH-Mac;
    unset req.http.Cookie;
    unset req.http.Authorization;
    return (hash);
}

sub townhall_normalise_url {
    # Every check below reads req.url, so it must have one spelling (RFC 3986 section 6.2.2):
    # origin-form only, percent-encoded unreserved characters decoded, and no encoded slash or
    # backslash, control character, empty or dot segment left to mean something else upstream.
    if (req.url ~ "^(?i)https?://") {
        set req.url = regsub(req.url, "^(?i)https?://[^/?#]*", "");
        if (req.url == "") {
            set req.url = "/";
        }
    }
    if (req.url !~ "^/" || req.url ~ "#") {
        return (synth(400, "bad_url"));
    }
    if (req.url ~ "%") {
        if (req.url ~ "%(?![0-9A-Fa-f]{2})") {
            return (synth(400, "bad_url"));
        }
@{percent_decode}
        if (regsub(req.url, "\?.*$", "") ~ "%(?i)(2f|5c|[01][0-9a-f]|7f)") {
            return (synth(400, "bad_url"));
        }
    }
    set req.http.X-TH-Path = regsub(req.url, "\?.*$", "");
    if (req.http.X-TH-Path ~ "(//|\\|/\.\.?(/|$))") {
        return (synth(400, "bad_url"));
    }
    unset req.http.X-TH-Path;
}

sub townhall_check_token {
    if (req.http.X-TH-Token !~ "@{token_regex}") {
        return (synth(403, "token_malformed"));
    }
    set req.http.X-TH-Body = regsub(req.http.X-TH-Token, "\.[0-9a-f]{64}$", "");
    # One branch per valid key: during a rotation the old and the new key both verify.
@{key_branches}
    # Compare digests of both sides so the comparison time tells an attacker nothing.
    if (digest.hash_sha256(req.http.X-TH-Mac) !=
        digest.hash_sha256("0x" + regsub(req.http.X-TH-Token, "^.*\.", ""))) {
        return (synth(403, "token_bad_signature"));
    }
    if (std.integer(regsub(req.http.X-TH-Token, "^(?:[^.]*\.){5}([0-9]+)\..*$", "\1"), 0)
        <= std.integer(time=now)) {
        return (synth(403, "token_expired"));
    }
    if (regsub(req.http.X-TH-Token, "^(?:[^.]*\.){2}([^.]*)\..*$", "\1") != "@{listen_scope}") {
        return (synth(403, "token_wrong_scope"));
    }
    if (regsub(req.http.X-TH-Token, "^(?:[^.]*\.){3}([^.]*)\..*$", "\1")
        != regsub(req.url, "^/live/([^/?]*).*$", "\1")) {
        return (synth(403, "token_wrong_space"));
    }
}

sub townhall_lane {
    # Which pool a request takes by the bearer token its caller put in X-TH-Token: a session or speaker
    # token signed by one of our keys and not expired goes to the staff lane; any other token of ours (a listener's renewal,
    # a waiting room's poll) to the origin's own pool; anything else (a forged or unknown bearer) is
    # anonymous as far as the edge can tell, and takes the capped public pool. The signature only picks
    # the pool: the origin still authenticates the request. A shield holds no keys, and sends every
    # signed-in request to the origin's own pool as the edge in front of it chose to send it on.
    set req.backend_hint = @{lane_default};
    if (req.http.X-TH-Token ~ "@{token_regex}" &&
        std.integer(regsub(req.http.X-TH-Token, "^(?:[^.]*\.){5}([0-9]+)\..*$", "\1"), 0)
        > std.integer(time=now)) {
        set req.http.X-TH-Body = regsub(req.http.X-TH-Token, "\.[0-9a-f]{64}$", "");
@{lane_key_branches}
        if (digest.hash_sha256(req.http.X-TH-Mac) ==
            digest.hash_sha256("0x" + regsub(req.http.X-TH-Token, "^.*\.", ""))) {
            if (req.http.X-TH-Token ~ "^[^.]*\.[^.]*\.@{staff_scopes}\.") {
                set req.backend_hint = staff;
            } else {
                set req.backend_hint = origin;
            }
        }
    }
    unset req.http.X-TH-Token;
    unset req.http.X-TH-Body;
    unset req.http.X-TH-Mac;
}

sub townhall_check_edge {
    # A shield serves live media only to the edges in front of it, which prove it with the
    # credential the origin also checks.
    if (digest.hash_sha256(req.http.X-Townhall-Edge) != digest.hash_sha256("@{edge_credential}")) {
        return (synth(403, "edge_credential_required"));
    }
    unset req.http.X-Townhall-Edge;
}

sub townhall_cache_url {
    # The cache key is the path plus the blocking-reload parameters; every other parameter
    # (the token among them) is dropped, so all listeners share one object.
    set req.http.X-TH-Query = "";
    if (req.url ~ "[?&]_HLS_msn=[0-9]+(&|$)") {
        set req.http.X-TH-Query = "&_HLS_msn=" + regsub(req.url, "^.*[?&]_HLS_msn=([0-9]+).*$", "\1");
    }
    if (req.url ~ "[?&]_HLS_part=[0-9]+(&|$)") {
        set req.http.X-TH-Query = req.http.X-TH-Query + "&_HLS_part="
            + regsub(req.url, "^.*[?&]_HLS_part=([0-9]+).*$", "\1");
    }
    if (req.url ~ "[?&]_HLS_skip=(YES|v2)(&|$)") {
        set req.http.X-TH-Query = req.http.X-TH-Query + "&_HLS_skip="
            + regsub(req.url, "^.*[?&]_HLS_skip=(YES|v2).*$", "\1");
    }
    set req.url = regsub(req.url, "\?.*$", "");
    if (req.http.X-TH-Query != "") {
        set req.url = req.url + "?" + regsub(req.http.X-TH-Query, "^&", "");
    }
    unset req.http.X-TH-Query;
}

sub vcl_hash {
    # The stripped URL alone: not the Host, not the token, not the country.
    hash_data(req.url);
    return (lookup);
}

sub vcl_backend_fetch {
    # One object serves every country; the edge decides 451 at delivery.
    unset bereq.http.@{country_header};
    # The origin serves live media only to a holder of this credential (or of a listener token):
    # one fetch serves every listener whose token passed here. Never sent on a pass to the API.
    if (bereq.uncacheable) {
        unset bereq.http.X-Townhall-Edge;
    } else {
        set bereq.http.X-Townhall-Edge = "@{edge_credential}";
    }
}

sub vcl_pipe {
    # Only the events socket gets here; its upgrade headers must reach the origin as sent.
    unset bereq.http.X-Townhall-Edge;
    set bereq.http.Upgrade = req.http.Upgrade;
    set bereq.http.Connection = req.http.Connection;
}

sub vcl_backend_response {
    # Every answer is cacheable: Varnish collapses only cacheable answers, and an uncacheable one
    # would send all its waiters on to the origin.
    unset beresp.http.Set-Cookie;
    if (beresp.status >= 400) {
        set beresp.ttl = @{error_ttl};
        set beresp.grace = 0s;
        set beresp.keep = 0s;
    } elsif (bereq.url ~ "^/live/[^/]+/revoked$") {
        # Who may no longer listen: refreshed once this old, so a removal reaches the edge in time.
        # While a refresh is on its way the previous list answers (grace): listeners never wait on
        # the API's port, which a flood may be keeping busy; past the grace they do.
        set beresp.ttl = @{revocation_ttl};
        set beresp.grace = @{revocation_grace};
        set beresp.keep = 0s;
    } elsif (bereq.url ~ "\.(m3u8|mpd)(\?|$)" || bereq.url ~ "/state\.json(\?|$)") {
        if (beresp.ttl <= 0s || beresp.ttl > @{live_ttl}) {
            set beresp.ttl = @{live_ttl};
        }
        # No grace: a joining listener must never get an expired playlist.
        set beresp.grace = 0s;
        set beresp.keep = 0s;
        # A playlist weighs more than the audio it names: compress it once here, for everyone.
        set beresp.do_gzip = true;
    } else {
        # Parts, segments and init sections are written once and never change. A chunked segment
        # (c<n>.m4s) is streamed to every client that asks while the origin is still writing it
        # (do_stream: one fetch, each chunk passed on as it comes); a fetch the origin cuts short
        # fails and is never kept as the whole segment.
        set beresp.do_stream = true;
        if (beresp.ttl <= 0s || beresp.ttl > @{immutable_ttl}) {
            set beresp.ttl = @{immutable_ttl};
        }
    }
    set beresp.uncacheable = false;
    return (deliver);
}

sub vcl_backend_error {
    # The origin did not answer: keep the error briefly so a crowd does not retry it all at once.
    set beresp.http.Content-Type = "application/json";
    set beresp.http.Cache-Control = "no-store";
    set beresp.ttl = @{error_ttl};
    set beresp.grace = 0s;
    set beresp.http.Retry-After = "@{busy_retry_after}";
    synthetic("""{"code":"origin_unavailable","message":"the origin did not answer; retry shortly"}""");
    return (deliver);
}

sub vcl_deliver {
    if (req.http.X-TH-Media) {
        # The revocation list of the space answered: refuse a revoked subject, else go on to the media
        # (an origin that cannot answer the list leaves the token's own expiry as the bound).
        if (resp.status == 200 && std.strstr(" " + resp.http.X-Townhall-Revoked + " ",
                                             " " + req.http.X-TH-Subject + " ")) {
            return (synth(403, "token_revoked"));
        }
        set req.url = req.http.X-TH-Media;
        unset req.http.X-TH-Media;
        unset req.http.X-TH-Subject;
        set req.http.X-TH-Checked = "yes";
        return (restart);
    }
    if (obj.hits > 0) {
        set req.http.X-TH-Cache = "hit";
    } else {
        set req.http.X-TH-Cache = "miss";
    }
    if (resp.http.X-Townhall-Withheld && req.http.@{country_header} ~ "^[A-Za-z]{2}$" &&
        std.strstr(" " + std.toupper(resp.http.X-Townhall-Withheld) + " ",
                   " " + std.toupper(req.http.@{country_header}) + " ")) {
        return (synth(451, "withheld_in_country"));
    }
    @{deliver_role}
    set resp.http.X-Cache = req.http.X-TH-Cache;
    if (req.url ~ "^/(live|replay)/") {
        # The stream is public once the token passed: any page may play it (no credentials).
        set resp.http.Access-Control-Allow-Origin = "*";
        set resp.http.Timing-Allow-Origin = "*";
    }
    unset resp.http.Via;
    unset resp.http.X-Varnish;
}

sub vcl_synth {
    set resp.http.Content-Type = "application/json";
    set resp.http.Cache-Control = "no-store";
    set resp.http.Access-Control-Allow-Origin = "*";
    if (req.http.X-TH-Cache) {
        set resp.http.X-Cache = req.http.X-TH-Cache;
    }
    if (resp.status == 204) {
        set resp.http.Access-Control-Allow-Methods = "GET, HEAD, OPTIONS";
        set resp.http.Access-Control-Max-Age = "86400";
        return (deliver);
    }
    if (resp.status == 200 && resp.reason == "clock") {
        set resp.http.Content-Type = "text/plain";
        synthetic(std.strftime(now, "%Y-%m-%dT%H:%M:%S") + "." +
                  regsub("" + std.time2real(now, 0.0), "^[0-9]+\.?([0-9]{0,3}).*$", "\1") + "Z");
        return (deliver);
    }
    if (resp.status == 200) {
        synthetic("""{"status":"ok"}""");
        return (deliver);
    }
    if (resp.status == 429) {
        set resp.http.Retry-After = "@{retry_after}";
        set req.http.X-TH-Message = "too many requests from this address; retry later";
    } elsif (resp.status == 451) {
        set req.http.X-TH-Message = "this space is withheld in your country";
    } elsif (resp.status == 405) {
        set req.http.X-TH-Message = "only GET and HEAD are allowed here";
    } elsif (resp.status == 404) {
        set req.http.X-TH-Message = "no such resource here";
    } elsif (resp.status == 403 && resp.reason == "token_revoked") {
        set req.http.X-TH-Message = "this listener token was revoked: removed or blocked from the space, or the account suspended";
    } elsif (resp.status == 400 && resp.reason == "upgrade_refused") {
        set req.http.X-TH-Message = "only the events socket may be upgraded";
    } elsif (resp.status == 400) {
        set req.http.X-TH-Message = "the URL is malformed or spelled in a way this edge does not accept";
    } else {
        set req.http.X-TH-Message = "the listener token is missing, invalid, expired or for another space";
    }
    # One log record per rejection, read by townhall.edge.metrics.
    std.log("th-reject " + resp.reason);
    synthetic({"{"code":""} + resp.reason + {"","message":""} + req.http.X-TH-Message + """"}""");
    return (deliver);
}
