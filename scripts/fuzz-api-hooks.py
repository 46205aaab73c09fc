"""Schemathesis hooks for scripts/fuzz-api.sh.

`PUT /v1/outcomes/taxonomy` takes TOML text (`application/toml`), a media
type Schemathesis has no serializer for: send the generated strings as the
body, as it does for text/plain.
"""

import schemathesis

schemathesis.serializer.alias("application/toml", "text/plain")
