"""The media node: WHIP ingest, the mixer and mix-minus, one AAC encode, LL-HLS parts and segments.

Never imports the HTTP API; the control plane reaches it through the Runtime and pub/sub events.
"""
