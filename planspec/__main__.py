from planspec.cli import entry

entry()
