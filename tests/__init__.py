import sys

# The bytecode caches (git-ignored) are written even where PYTHONDONTWRITEBYTECODE is set:
# without them every xdist worker and every `grassroots run` subprocess compiles our modules
# from source again, and pytest rewrites every test file again (seconds of CPU per run). Here,
# as this package is imported before conftest.py imports our modules; tests/cli.py drops the
# variable for subprocesses.
sys.dont_write_bytecode = False
