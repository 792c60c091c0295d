"""The one exception type for bad input from a person."""


class UserError(Exception):
    """Bad input (unknown recipe, missing column, bad override, ...).

    The CLI prints the message as one paragraph and exits with code 2, without a traceback.
    """
