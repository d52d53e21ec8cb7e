"""What every config module shares."""


class ConfigError(ValueError):
    """A checkpoint config that this implementation cannot build."""
