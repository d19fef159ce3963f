"""A plugin module that raises a ``BaseException`` (not an ``Exception``) when imported."""


class Abort(BaseException):
    """Not an Exception: ``except Exception`` lets it through."""


raise Abort("the plugin gave up while importing")
