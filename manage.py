#!/usr/bin/env python
import os
import sys


def main() -> None:
    # Fail closed: the production settings unless the caller (the Makefile, the tests, a
    # developer) chooses others; they refuse to start without their variables (docs/deploy.md).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    from django.core.management import execute_from_command_line  # noqa: PLC0415 - once the settings are chosen

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
