"""A plugin module whose import is interrupted (as if by Ctrl-C)."""

raise KeyboardInterrupt
