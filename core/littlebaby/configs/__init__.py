"""Shipped configs: `littlebaby train --config NAME` reads NAME.json from here."""
