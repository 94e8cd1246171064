"""Genesis: LLM-driven code evolution in any language, on any backend."""

__version__ = "0.1.0"

# Plugins declare `genesis-core>=PLUGIN_API_MIN,<PLUGIN_API_NEXT`: the minor
# version is the plugin API, so a plugin built against 0.1 works with 0.1.x.
PLUGIN_API = "0.1"
