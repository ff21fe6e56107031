#!/usr/bin/env bash
# Refresh the message catalogs after changing user-facing text:
#   tools/i18n.sh        extract msgids and update the vi and en catalogs
# Jinja2 templates under bot/**/templates/ are extracted too (see the jinja2 section of babel.cfg).
# Then translate the new entries in handlers/locale/vi/LC_MESSAGES/messages.po.
set -euo pipefail
cd "$(dirname "$0")/.."
uv run pybabel extract -F babel.cfg -k t -k n:1,2 -k N_ --no-location --sort-output \
  --project=grassroots -o handlers/locale/messages.pot handlers bot scheduler
for lang in vi en; do
  uv run pybabel update -i handlers/locale/messages.pot -d handlers/locale -D messages -l "$lang" \
    --no-fuzzy-matching --ignore-obsolete
done
