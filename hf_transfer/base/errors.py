"""The one exception type for bad input from a person."""


class UserError(Exception):
    """Bad input (unknown recipe, missing column, bad override, ...).

    The CLI prints the message as one paragraph and exits with code 2, without a traceback.
    """


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type name when it has none), cut to ``limit``
    characters: library errors become one short sentence of a UserError."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[:limit] + " ..."


def without_password(url: str, text: str | None = None) -> str:
    """``text`` (default: the URL itself) with the storage URL's password replaced by ***: an error message or a
    report never shows it."""
    from urllib.parse import unquote

    text = url if text is None else text
    password = url.partition("://")[2].rpartition("@")[0].partition(":")[2]  # user:password@host, even malformed
    for secret in sorted({password, unquote(password)} - {""}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
