"""Use cases: each service takes its ports (repositories, state, clock), applies domain rules,
persists and publishes events. No HTTP here, and no choice of implementation.
"""
