"""The one exception type the command line turns into a one-line message and exit status 2."""


class UserError(Exception):
    """Bad input from the user: a file, a setting or a name. The message is one line."""

    exit_status = 2
