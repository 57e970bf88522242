"""Ingest rules that need no network: asking browsers for Opus DTX in the SDP answer."""

from __future__ import annotations

from townhall.media.ingest import ask_for_dtx

BROWSER = (
    "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\n"
)
BARE = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96 0\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"


def test_the_answer_asks_for_dtx_on_the_opus_format_only() -> None:
    assert "a=fmtp:111 minptime=10;useinbandfec=1;usedtx=1\r\n" in ask_for_dtx(BROWSER)
    assert "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 usedtx=1\r\na=rtpmap:0 PCMU/8000" in ask_for_dtx(BARE)
    assert ask_for_dtx(ask_for_dtx(BROWSER)) == ask_for_dtx(BROWSER)
    no_opus = "v=0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    assert ask_for_dtx(no_opus) == no_opus
