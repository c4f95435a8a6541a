from bedside.catalog.registry import Catalog
from bedside.catalog.resolve import Resolver, sha256_file
from bedside.catalog.spec import ModelSpec, Source

__all__ = ["Catalog", "ModelSpec", "Resolver", "Source", "sha256_file"]
