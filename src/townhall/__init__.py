"""townhall: live audio conversations for very large audiences.

The package root exports nothing but the version; import from the modules themselves.
"""

__version__ = "0.1.0"
