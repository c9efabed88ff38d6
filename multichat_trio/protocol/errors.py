"""The two ways a protocol exchange goes wrong, kept apart as in h11."""


class RemoteProtocolError(ValueError):
    """The peer sent something that is not valid IRC."""


class ForbiddenCharacter(RemoteProtocolError):
    """The line holds NUL, CR or LF: it could cut or split a line on its way on, so it is not acted on."""


class LocalProtocolError(ValueError):
    """We were asked to send something that is not valid IRC (a bug on our side)."""
