"""The bundled catalogs and their generators.

``provider_catalog()`` and ``compatibility_catalog()`` decode the files shipped with the
package on first call (never at import) and cache the indexed result for the process.
The generators (``providers_gen``, ``compat_gen``) are imported only by the command that runs
them.
"""

from .bundled import (
    BundledCompatibilityCatalog,
    BundledProviderCatalog,
    compatibility_catalog,
    load_compatibility_catalog,
    load_provider_catalog,
    normalize_base_url,
    provider_catalog,
)
from .schema import (
    CatalogModel,
    CatalogProvider,
    CompatibilityCatalog,
    CompatibilityEntry,
    ProviderCatalog,
    ReasoningControl,
    Visibility,
)

__all__ = [
    "BundledCompatibilityCatalog",
    "BundledProviderCatalog",
    "CatalogModel",
    "CatalogProvider",
    "CompatibilityCatalog",
    "CompatibilityEntry",
    "ProviderCatalog",
    "ReasoningControl",
    "Visibility",
    "compatibility_catalog",
    "load_compatibility_catalog",
    "load_provider_catalog",
    "normalize_base_url",
    "provider_catalog",
]
