"""The trust and safety area (EU DSA): notices, decisions and their effects, appeals, orders,
disputes, misuse, reports."""
