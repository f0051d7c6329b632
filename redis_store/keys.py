"""The key layout: every Redis key the store uses, in one place.

Keys carry Redis Cluster hash tags (the part in ``{...}``) so that what one script must
change atomically shares a slot:

* ``{g}`` global bookkeeping: scanner registry, ID counters, the entity dictionaries
  (package, distribution, repository, file) and the manifest-ID table;
* ``{m:<digest>}`` one manifest: its hash (ID, layers, index records), scanned set,
  report and lock;
* ``{l:<digest>}`` one layer: the manifests using it, its scanned set and its artifacts;
* ``{n:<package name>}`` the reverse index for one package name: its records and, per
  record, buckets of manifest IDs.

``docs/design.md`` explains the layout and what stays atomic per slot.
"""

from __future__ import annotations

import re
from typing import Final

from redis_store.errors import InvalidInputError

#: Manifest IDs are grouped in buckets of this many IDs per reverse-index set, so that every
#: set stays below Redis' default ``set-max-intset-entries`` (512) and keeps the compact
#: intset encoding however many manifests share a record.
BUCKET_SIZE: Final = 512

#: The kinds of entity: packages, distributions, repositories and files. Each kind has a
#: dictionary in ``{g}`` (data, ids, refs, and an ID counter) and an artifact list per layer,
#: filled by its ``index_*`` method.
KINDS: Final = ("pkg", "dist", "repo", "file")


class KeyLayout:
    """Builds the keys of one namespace. Pure string work, no I/O."""

    __slots__ = (
        "_g",
        "manifests",
        "mirror",
        "namespace",
        "prefix",
        "scanners",
        "seq",
    )

    def __init__(self, namespace: str) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise InvalidInputError("namespace must be a non-empty string")
        if any(c in namespace for c in "{}"):
            raise InvalidInputError("namespace must not contain '{' or '}' (they are hash tags)")
        try:
            namespace.encode()
        except UnicodeEncodeError:
            raise InvalidInputError("namespace: not valid Unicode (a lone surrogate)") from None
        self.namespace = namespace
        self.prefix = namespace + ":"
        self._g = namespace + ":{g}:"
        #: hash: scanner identity (JSON ``[name, version, kind]``) -> scanner ID
        self.scanners = self._g + "scanners"
        #: hash: counter name -> last value handed out
        self.seq = self._g + "seq"
        #: hash: manifest ID -> manifest digest (answers the reverse index)
        self.manifests = self._g + "manifests"
        #: hash: the cache tier's complete-mirror mark (:mod:`redis_store.ops.mirror`)
        self.mirror = self._g + "mirror"

    # -- global dictionaries -------------------------------------------------------------
    def entity_data(self, kind: str) -> str:
        """Hash: entity ID -> identity hash (16 bytes) + JSON fields."""
        return self._g + kind

    def entity_ids(self, kind: str) -> str:
        """Hash: identity hash -> entity ID."""
        return self._g + kind + ":ids"

    def entity_refs(self, kind: str) -> str:
        """Hash: entity ID -> number of layer artifacts and index records using it."""
        return self._g + kind + ":refs"

    def entity_keys(self) -> list[str]:
        """The 12 dictionary keys in the fixed order the scripts expect (data, ids, refs)."""
        out: list[str] = []
        for kind in KINDS:
            out += [self.entity_data(kind), self.entity_ids(kind), self.entity_refs(kind)]
        return out

    # -- manifests -----------------------------------------------------------------------
    def manifest(self, digest: str) -> str:
        """Hash: ``id``, ``gen`` (its generation: changes on every write), ``layers``, ``recs``,
        ``used``."""
        return f"{self.prefix}{{m:{digest}}}"

    def manifest_scanned(self, digest: str) -> str:
        """Set of scanner IDs that finished indexing the manifest."""
        return f"{self.prefix}{{m:{digest}}}:scanned"

    def report(self, digest: str) -> str:
        """String: the stored IndexReport (compressed claircore JSON)."""
        return f"{self.prefix}{{m:{digest}}}:report"

    def lock(self, digest: str) -> str:
        """String: the owner token of the manifest's index lock (expires unless renewed)."""
        return f"{self.prefix}{{m:{digest}}}:lock"

    # -- layers --------------------------------------------------------------------------
    def layer(self, digest: str) -> str:
        """Set of IDs of the manifests using the layer; the layer exists while it is not empty."""
        return f"{self.prefix}{{l:{digest}}}"

    def layer_scanned(self, digest: str) -> str:
        """Set of scanner IDs that scanned the layer."""
        return f"{self.prefix}{{l:{digest}}}:scanned"

    def layer_artifacts(self, digest: str, kind: str) -> str:
        """List of the layer's artifacts of one kind, in the order first written."""
        return f"{self.prefix}{{l:{digest}}}:{kind}"

    def layer_keys(self, digest: str) -> list[str]:
        """The 6 keys of one layer in the fixed order the scripts expect."""
        return [
            self.layer(digest),
            self.layer_scanned(digest),
            *(self.layer_artifacts(digest, kind) for kind in KINDS),
        ]

    # -- reverse index -------------------------------------------------------------------
    def name(self, name: str) -> str:
        """Hash: record ``pid:did:rid`` of a package with this name -> its bucket numbers."""
        return f"{self.prefix}{{n:{name}}}"

    def bucket(self, name: str, record: str, bucket: int) -> str:
        """Set of IDs of the manifests holding ``record``, for one bucket of manifest IDs."""
        return f"{self.prefix}{{n:{name}}}:{record}:{bucket}"

    def classify(self, key: str) -> tuple[str, str, str]:
        """Which family a key of this namespace belongs to: (family, tag value, suffix).

        Families: ``global``, ``manifest``, ``layer``, ``name``; the tag value is the digest or
        package name; the suffix the part after the tag (``""`` for the family's main key).
        ``("other", "", key)`` for keys the layout does not define.
        """
        if not key.startswith(self.prefix + "{"):
            return ("other", "", key)
        rest = key[len(self.prefix) + 1 :]
        kind, _, rest = rest.partition(":") if rest[:2] != "g}" else ("g", "", rest[1:])
        family = {"g": "global", "m": "manifest", "l": "layer", "n": "name"}.get(kind)
        if family is None:
            return ("other", "", key)
        if family == "global":
            return ("global", "", rest.lstrip("}:"))
        end = rest.find("}")
        if family == "name":  # package names may contain "}": match the suffix instead
            m = _BUCKET_SUFFIX.search(rest)
            if m is not None:
                return ("name", rest[: m.start()], m.group(1))
            return ("name", rest[:-1], "") if rest.endswith("}") else ("other", "", key)
        if end < 0:
            return ("other", "", key)
        return (family, rest[:end], rest[end + 1 :].lstrip(":"))

    def family(self, key: str) -> str:
        """The family memory reports group a key under: ``manifest:report``, ``name:bucket``."""
        family, _, suffix = self.classify(key)
        if family == "other":
            return "other"
        if family == "name":
            return "name:bucket" if suffix else "name:records"
        return f"{family}:{suffix}" if suffix else family

    def match_pattern(self) -> str:
        """A SCAN (and ACL) pattern matching every key of the namespace and no other.

        Every key is ``<namespace>:{<tag>...``, and a namespace never contains ``{``, so the
        brace makes the prefix unambiguous: ``a:{*`` matches no key of namespace ``a:b``
        (``a:b:{g}:seq``), where ``a:*`` would.
        """
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in self.namespace)
        return escaped + ":{*"


_BUCKET_SUFFIX: Final = re.compile(r"\}:(\d+:\d+:\d+:\d+)$")


def bucket_of(manifest_id: int) -> int:
    """The reverse-index bucket a manifest ID falls in."""
    return manifest_id // BUCKET_SIZE
