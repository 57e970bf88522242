"""Rules over plain data: permissions, admission, tokens, counting, moderation.

Nothing here does I/O, touches asyncio or reads the clock; time is always a parameter.
"""
