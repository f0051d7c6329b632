"""A seeded, realistic registry of image manifests, as claircore IndexReports.

The demo and the benchmarks need data shaped like a real registry rather than random noise,
because the store's costs depend on that shape: most images share a few base layers (so layer
scans are skipped and package rows are deduplicated), base images carry 15 to 500 OS packages,
application layers add language packages, and images drift apart as some pick up newer
versions of base packages. :func:`generate` produces such a registry lazily and
deterministically for a seed; :func:`describe` summarises one.

Each report is a finished one (``state`` ``"IndexFinished"``, ``success`` true), in the form
claircore's coalescer leaves it, ready for :func:`redis_store.replay.replay`. IDs are
consistent decimal strings: one identity gets one ID across the whole registry.

Version drift differs from claircore in one respect, on purpose: a manifest whose upper layer
upgrades a base package lists the upgraded version *and* keeps the base layer's version.
claircore's coalescer would drop the superseded one, but ``replay`` learns a layer's content
from the reports that mention it, so every report that uses a shared base layer must describe
that layer in full; otherwise what the store holds for the layer would depend on which
manifest was indexed first.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Final

from redis_store.models import (
    ZERO_VERSION,
    Detector,
    Digest,
    Distribution,
    Environment,
    IndexReport,
    Package,
    PackageKind,
    Range,
    Repository,
    Severity,
    Version,
    Vulnerability,
    distribution_identity,
)

__all__ = ["BASE_IMAGES", "WorkloadStats", "describe", "generate", "layer_digest"]

# -- scanners and fixed entities ----------------------------------------------------------

DPKG: Final = Detector("dpkg", "7", "package")
RPM: Final = Detector("rhel-package-scanner", "1", "package")
APK: Final = Detector("apk", "1", "package")
GOBIN: Final = Detector("gobin", "5", "package")
PYTHON: Final = Detector("python", "4", "package")
JAVA: Final = Detector("java", "4", "package")

GO_REPO: Final = Repository(name="go", uri="https://pkg.go.dev/")
PYPI_REPO: Final = Repository(name="pypi", uri="https://pypi.org/simple")
MAVEN_REPO: Final = Repository(name="maven", uri="https://repo1.maven.apache.org/maven2")


def _rhel_repos(major: int) -> tuple[Repository, ...]:
    """The CPE repositories claircore's rhel repository scanner reports for RHEL ``major``."""
    return tuple(
        Repository(
            name=f"cpe:/{part}:redhat:enterprise_linux:{major}::{stream}",
            key="rhel-cpe-repository",
            cpe=f"cpe:2.3:{part}:redhat:enterprise_linux:{major}:*:{stream}:*:*:*:*:*",
        )
        for part, stream in (("o", "baseos"), ("a", "appstream"))
    )


def _debian(version_id: str, codename: str) -> Distribution:
    return Distribution(
        did="debian",
        name="Debian GNU/Linux",
        version=f"{version_id} ({codename})",
        version_code_name=codename,
        version_id=version_id,
        pretty_name=f"Debian GNU/Linux {version_id} ({codename})",
    )


def _rhel(major: int) -> Distribution:
    return Distribution(
        did="rhel",
        name="Red Hat Enterprise Linux Server",
        version=str(major),
        version_id=str(major),
        cpe=f"cpe:2.3:o:redhat:enterprise_linux:{major}:*:*:*:*:*:*:*",
        pretty_name=f"Red Hat Enterprise Linux Server {major}",
    )


def _alpine(minor: str, patch: str) -> Distribution:
    return Distribution(
        did="alpine",
        name="Alpine Linux",
        version=minor,
        version_id=f"{minor}.{patch}",
        pretty_name=f"Alpine Linux v{minor}",
    )


# -- package name catalogues ----------------------------------------------------------------
# Binary package -> source package ("" when the source has the binary's name).

_DEB_ROOT: Final = (
    "adduser apt base-files base-passwd bash bsdutils:util-linux coreutils dash debconf "
    "debian-archive-keyring debianutils diffutils dpkg e2fsprogs findutils gcc-12-base:gcc-12 "
    "gpgv:gnupg2 grep gzip hostname init-system-helpers libacl1:acl libapt-pkg6.0:apt "
    "libattr1:attr libaudit-common:audit libaudit1:audit libblkid1:util-linux "
    "libbz2-1.0:bzip2 libc-bin:glibc libc6:glibc libcap-ng0:libcap-ng libcap2 "
    "libcom-err2:e2fsprogs libcrypt1:libxcrypt libdb5.3:db5.3 libdebconfclient0:cdebconf "
    "libext2fs2:e2fsprogs libffi8:libffi libgcc-s1:gcc-12 libgcrypt20 libgmp10:gmp "
    "libgnutls30:gnutls28 libgpg-error0:libgpg-error libhogweed6:nettle libidn2-0:libidn2 "
    "liblz4-1:lz4 liblzma5:xz-utils libmd0:libmd libmount1:util-linux libnettle8:nettle "
    "libnsl2:libnsl libp11-kit0:p11-kit libpam-modules:pam libpam-modules-bin:pam "
    "libpam-runtime:pam libpam0g:pam libpcre2-8-0:pcre2 libseccomp2:libseccomp "
    "libselinux1:libselinux libsemanage-common:libsemanage libsemanage2:libsemanage "
    "libsepol2:libsepol libsmartcols1:util-linux libss2:e2fsprogs libssl3:openssl "
    "libstdc++6:gcc-12 libsystemd0:systemd libtasn1-6 libtinfo6:ncurses "
    "libtirpc-common:libtirpc libtirpc3:libtirpc libudev1:systemd libunistring2:libunistring "
    "libuuid1:util-linux libxxhash0:xxhash libzstd1:libzstd login:shadow logsave:e2fsprogs "
    "mawk mount:util-linux ncurses-base:ncurses ncurses-bin:ncurses passwd:shadow "
    "perl-base:perl sed sysvinit-utils:sysvinit tar tzdata usr-is-merged:usrmerge util-linux "
    "util-linux-extra:util-linux zlib1g:zlib"
)
_DEB_CURL: Final = (
    "ca-certificates curl libcurl4:curl openssl libbrotli1:brotli libgssapi-krb5-2:krb5 "
    "libk5crypto3:krb5 libkeyutils1:keyutils libkrb5-3:krb5 libkrb5support0:krb5 "
    "libldap-2.5-0:openldap libnghttp2-14:nghttp2 libpsl5:libpsl librtmp1:rtmpdump "
    "libsasl2-2:cyrus-sasl2 libsasl2-modules-db:cyrus-sasl2 libssh2-1:libssh2 netbase wget "
    "gnupg:gnupg2 dirmngr:gnupg2 gpg:gnupg2 gpg-agent:gnupg2 libassuan0:libassuan "
    "libksba8:libksba libnpth0:npth libsqlite3-0:sqlite3 libreadline8:readline "
    "readline-common:readline pinentry-curses:pinentry"
)
_DEB_SCM: Final = (
    "git git-man:git libcurl3-gnutls:curl liberror-perl libexpat1:expat perl "
    "perl-modules-5.36:perl libgdbm6:gdbm libgdbm-compat4:gdbm libperl5.36:perl "
    "openssh-client:openssh libedit2:libedit libbsd0:libbsd libcbor0.8:libcbor "
    "libfido2-1:libfido2 libx11-6:libx11 libx11-data:libx11 libxau6:libxau "
    "libxcb1:libxcb libxdmcp6:libxdmcp libxext6:libxext libxmuu1:libxmu xauth procps "
    "libproc2-0:procps mercurial mercurial-common:mercurial python3 python3-minimal:python3 "
    "python3.11:python3.11 libpython3.11:python3.11 subversion libsvn1:subversion "
    "libapr1:apr libaprutil1:apr-util libserf-1-1:serf bzr"
)
_RPM_ROOT: Final = (
    "acl audit-libs:audit basesystem bash brotli bzip2-libs:bzip2 ca-certificates chkconfig "
    "coreutils-single:coreutils cracklib cracklib-dicts:cracklib crypto-policies "
    "cryptsetup-libs:cryptsetup curl cyrus-sasl-lib:cyrus-sasl dbus dbus-common:dbus "
    "dbus-daemon:dbus dbus-libs:dbus dbus-tools:dbus device-mapper:lvm2 "
    "device-mapper-libs:lvm2 dnf dnf-data:dnf elfutils-libelf:elfutils "
    "elfutils-libs:elfutils expat file-libs:file filesystem findutils gawk gdbm "
    "gdbm-libs:gdbm glib2 glibc glibc-common:glibc glibc-minimal-langpack:glibc gmp gnupg2 "
    "gnutls gobject-introspection gpgme grep gzip ima-evm-utils json-c json-glib "
    "keyutils-libs:keyutils kmod-libs:kmod krb5-libs:krb5 langpacks-en:langpacks libacl:acl "
    "libarchive libassuan libattr:attr libblkid:util-linux libcap libcap-ng "
    "libcom_err:e2fsprogs libcomps libcurl:curl libdb libdb-utils:libdb libdnf "
    "libfdisk:util-linux libffi libgcc:gcc libgcrypt libgpg-error libidn2 libksba libmodulemd "
    "libmount:util-linux libnghttp2:nghttp2 libnsl2 libpsl libpwquality librepo "
    "libreport-filesystem:libreport libseccomp libselinux libsemanage libsepol libsigsegv "
    "libsmartcols:util-linux libsolv libssh libssh-config:libssh libstdc++:gcc libtasn1 "
    "libtirpc libunistring libusbx libuser libutempter libuuid:util-linux libverto libxcrypt "
    "libxml2 libyaml libzstd:zstd lua-libs:lua lz4-libs:lz4 mpfr ncurses-base:ncurses "
    "ncurses-libs:ncurses nettle npth openldap openssl-libs:openssl p11-kit "
    "p11-kit-trust:p11-kit pam pcre pcre2 platform-python:python3 "
    "platform-python-setuptools:python-setuptools popt publicsuffix-list-dafsa:publicsuffix-list "
    "python3-dnf:dnf python3-gpg:gpgme python3-hawkey:libdnf python3-libcomps:libcomps "
    "python3-libdnf:libdnf python3-libs:python3 python3-pip-wheel:python-pip python3-rpm:rpm "
    "python3-setuptools-wheel:python-setuptools readline redhat-release rootfiles rpm "
    "rpm-build-libs:rpm rpm-libs:rpm sed setup shadow-utils sqlite-libs:sqlite systemd "
    "systemd-libs:systemd systemd-pam:systemd tar tpm2-tss tzdata util-linux "
    "vim-minimal:vim which xz-libs:xz yum:dnf zlib"
)
_RPM_DEVEL: Final = (
    "gcc cpp:gcc gcc-c++:gcc glibc-devel:glibc glibc-headers:glibc kernel-headers:kernel "
    "libxcrypt-devel:libxcrypt make binutils libmpc isl annobin openssl openssl-devel:openssl "
    "zlib-devel:zlib pkgconf pkgconf-m4:pkgconf pkgconf-pkg-config:pkgconf libpkgconf:pkgconf "
    "git git-core:git git-core-doc:git perl-Git:git less emacs-filesystem:emacs "
    "groff-base:groff openssh openssh-clients:openssh libedit fipscheck fipscheck-lib:fipscheck "
    "procps-ng xz diffutils patch file unzip zip tar-devel:tar"
)
_RPM_PERL: Final = (
    "Carp Data-Dumper Digest Digest-MD5 Encode Errno Exporter File-Path File-Temp Getopt-Long "
    "HTTP-Tiny IO IO-Socket-IP IO-Socket-SSL MIME-Base64 Net-SSLeay PathTools Pod-Escapes "
    "Pod-Perldoc Pod-Simple Pod-Usage Scalar-List-Utils Socket Storable Term-ANSIColor "
    "Term-Cap Text-ParseWords Text-Tabs+Wrap Time-Local URI constant interpreter libnet libs "
    "macros parent podlators threads threads-shared Unicode-Normalize Mozilla-CA TermReadKey "
    "Error Thread-Queue"
)
_APK_ROOT: Final = (
    "alpine-baselayout alpine-baselayout-data:alpine-baselayout alpine-keys apk-tools busybox "
    "busybox-binsh:busybox ca-certificates-bundle:ca-certificates libc-utils:libc-dev "
    "libcrypto3:openssl libssl3:openssl musl musl-utils:musl scanelf:pax-utils "
    "ssl_client:busybox zlib"
)
_APK_CURL: Final = (
    "curl libcurl:curl bash readline ncurses-libs:ncurses ncurses-terminfo-base:ncurses "
    "brotli-libs:brotli c-ares libidn2 libunistring nghttp2-libs:nghttp2 libpsl "
    "zstd-libs:zstd tzdata ca-certificates jq oniguruma git pcre2 libexpat:expat "
    "openssh-client-default:openssh openssh-keygen:openssh"
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: Syllables for filler package names, so image sizes reach real ones.
_WORDS: Final = _words(
    "acme argo atlas beam blink bolt cairo cedar cobalt comet coral delta ember flux forge "
    "glyph granite harbor helix ion jade kite lumen mako maple nimbus nova onyx orbit pixel "
    "prism quartz quill raven rune sable sigma slate spark tango terra titan umber vapor "
    "vertex willow xeno yarrow zephyr"
)

_RPM_MODULES: Final = {
    "nodejs:18": "nodejs nodejs-libs:nodejs nodejs-full-i18n:nodejs npm:nodejs "
    "nodejs-docs:nodejs nodejs-nodemon:nodejs-nodemon nodejs-packaging:nodejs-packaging",
    "postgresql:13": "postgresql postgresql-server:postgresql postgresql-contrib:postgresql "
    "postgresql-private-libs:postgresql",
    "perl:5.32": "perl perl-libs:perl perl-interpreter:perl perl-macros:perl",
}

_GO_MODULES: Final = _words(
    "github.com/spf13/cobra github.com/spf13/pflag github.com/spf13/viper "
    "github.com/sirupsen/logrus github.com/pkg/errors github.com/google/uuid "
    "github.com/gorilla/mux github.com/gorilla/websocket github.com/prometheus/client_golang "
    "github.com/prometheus/common github.com/prometheus/procfs github.com/golang/protobuf "
    "google.golang.org/protobuf google.golang.org/grpc google.golang.org/genproto "
    "golang.org/x/net golang.org/x/sys golang.org/x/text golang.org/x/crypto golang.org/x/oauth2 "
    "golang.org/x/sync golang.org/x/time github.com/stretchr/testify "
    "github.com/davecgh/go-spew github.com/pmezard/go-difflib gopkg.in/yaml.v3 gopkg.in/yaml.v2 "
    "github.com/json-iterator/go github.com/modern-go/reflect2 github.com/cespare/xxhash/v2 "
    "github.com/beorn7/perks github.com/go-logr/logr go.uber.org/zap go.uber.org/multierr "
    "go.opentelemetry.io/otel go.opentelemetry.io/otel/trace github.com/klauspost/compress "
    "github.com/redis/go-redis/v9 github.com/jackc/pgx/v5 github.com/aws/aws-sdk-go "
    "k8s.io/apimachinery k8s.io/client-go k8s.io/api github.com/gogo/protobuf "
    "github.com/hashicorp/go-multierror github.com/mattn/go-isatty github.com/fatih/color "
    "github.com/go-errors/errors github.com/Azure/go-autorest/tracing "
    "github.com/inconshreveable/mousetrap github.com/containerd/containerd "
    "github.com/docker/docker github.com/opencontainers/image-spec"
)
_PY_PACKAGES: Final = _words(
    "requests urllib3 certifi idna charset-normalizer six setuptools pip wheel "
    "python-dateutil pytz numpy pandas pyyaml jinja2 markupsafe click flask werkzeug "
    "itsdangerous django sqlalchemy psycopg2-binary redis boto3 botocore s3transfer "
    "jmespath attrs packaging pyparsing cryptography cffi pycparser protobuf grpcio "
    "pydantic typing-extensions gunicorn uvicorn fastapi starlette anyio sniffio h11 "
    "aiohttp multidict yarl frozenlist"
)
_JAVA_PACKAGES: Final = _words(
    "org.apache.logging.log4j:log4j-core org.apache.logging.log4j:log4j-api "
    "org.slf4j:slf4j-api ch.qos.logback:logback-classic ch.qos.logback:logback-core "
    "com.fasterxml.jackson.core:jackson-databind com.fasterxml.jackson.core:jackson-core "
    "com.fasterxml.jackson.core:jackson-annotations org.springframework:spring-core "
    "org.springframework:spring-context org.springframework:spring-web "
    "org.springframework:spring-beans org.springframework.boot:spring-boot "
    "org.apache.commons:commons-lang3 commons-io:commons-io commons-codec:commons-codec "
    "com.google.guava:guava org.yaml:snakeyaml io.netty:netty-codec-http "
    "io.netty:netty-handler org.apache.tomcat.embed:tomcat-embed-core "
    "org.hibernate:hibernate-core com.h2database:h2 org.postgresql:postgresql "
    "org.apache.httpcomponents:httpclient"
)


def _pairs(text: str) -> list[tuple[str, str]]:
    """Parse ``name:source`` words; a bare name is its own source."""
    out = []
    for word in text.split():
        name, _, source = word.partition(":")
        out.append((name, source or name))
    return out


# -- specs: packages before IDs ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Spec:
    """A package as a scanner finds it; IDs are assigned when a report is built."""

    name: str
    version: str
    arch: str = ""
    module: str = ""
    source: tuple[str, str] | None = None
    normalized: Version = ZERO_VERSION


@dataclass(frozen=True, slots=True)
class _Where:
    """How a package of one ecosystem sits in a report: its database and references."""

    package_db: str
    detector: Detector
    distribution: Distribution | None = None
    repositories: tuple[Repository, ...] | None = None


@dataclass(frozen=True, slots=True)
class _Found:
    """Packages one scanner found in one database of a layer."""

    where: _Where
    packages: tuple[_Spec, ...]


@dataclass(frozen=True, slots=True)
class _Family:
    """One OS release: its scanner context and how its versions look and get upgraded."""

    where: _Where
    tag: str
    version: Callable[[random.Random], str]
    bump: Callable[[str, int], str]
    source_version: Callable[[str], str]
    arch: Callable[[random.Random, str], str]


def _bump_release(version: str, k: int, sep: str) -> str:
    """Raise the numeric start of the part after the last ``sep`` by ``k``."""
    head, s, rel = version.rpartition(sep)
    digits = len(rel) - len(rel.lstrip("0123456789"))
    if not s or not digits:
        return f"{version}{sep}{k}"
    return f"{head}{sep}{int(rel[:digits]) + k}{rel[digits:]}"


def _upstream(rng: random.Random) -> str:
    parts = [rng.randint(0, 9), rng.randint(0, 40)]
    if rng.random() < 0.6:
        parts.append(rng.randint(0, 20))
    return ".".join(map(str, parts))


def _debian_family(version_id: str, codename: str) -> _Family:
    tag = f"deb{version_id}"

    def version(rng: random.Random) -> str:
        epoch = "1:" if rng.random() < 0.06 else ""
        suffix = rng.choice(("", "", "", f"+{tag}u{rng.randint(1, 5)}", "+b1"))
        return f"{epoch}{_upstream(rng)}-{rng.randint(1, 12)}{suffix}"

    def bump(v: str, k: int) -> str:
        head, sep, n = v.rpartition(f"+{tag}u")
        if sep and n.isdigit():
            return f"{head}{sep}{int(n) + k}"
        return f"{v.removesuffix('+b1')}+{tag}u{k}"

    def arch(rng: random.Random, name: str) -> str:
        return "all" if rng.random() < 0.12 else "amd64"

    return _Family(
        _Where("var/lib/dpkg/status", DPKG, _debian(version_id, codename)),
        tag,
        version,
        bump,
        lambda v: v,
        arch,
    )


def _rhel_family(major: int) -> _Family:
    def version(rng: random.Random) -> str:
        epoch = "1:" if rng.random() < 0.08 else ""
        minor = f"_{rng.randint(2, 10)}" if rng.random() < 0.4 else ""
        return f"{epoch}{_upstream(rng)}-{rng.randint(1, 30)}.el{major}{minor}"

    def source_version(v: str) -> str:
        return v.partition(":")[2] if ":" in v else v

    def arch(rng: random.Random, name: str) -> str:
        return "noarch" if rng.random() < 0.18 else "x86_64"

    return _Family(
        _Where("bdb:var/lib/rpm", RPM, _rhel(major), _rhel_repos(major)),
        f"el{major}",
        version,
        lambda v, k: _bump_release(v, k, "-"),
        source_version,
        arch,
    )


def _alpine_family(minor: str, patch: str) -> _Family:
    def version(rng: random.Random) -> str:
        return f"{_upstream(rng)}-r{rng.randint(0, 8)}"

    return _Family(
        _Where("lib/apk/db/installed", APK, _alpine(minor, patch)),
        f"alpine{minor}",
        version,
        lambda v, k: _bump_release(v, k, "-r"),
        lambda v: v,
        lambda rng, name: "x86_64",
    )


# -- base images ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BaseImage:
    """A base image: its name, relative popularity and layers (name, package words, filler).

    A layer's package words are ``name[:source]``; ``filler`` adds that many made-up package
    names so the image reaches a real image's size.
    """

    name: str
    family: str
    weight: float
    layers: tuple[tuple[str, str, int], ...]


_FAMILIES: Final[dict[str, Callable[[], _Family]]] = {
    "debian12": lambda: _debian_family("12", "bookworm"),
    "debian11": lambda: _debian_family("11", "bullseye"),
    "ubi8": lambda: _rhel_family(8),
    "ubi9": lambda: _rhel_family(9),
    "alpine3.19": lambda: _alpine_family("3.19", "1"),
    "alpine3.20": lambda: _alpine_family("3.20", "0"),
}

_PERL_WORDS: Final = " ".join(f"perl-{w}:perl-{w}" for w in _RPM_PERL.split())

#: The registry's base images, most popular first (weights are relative).
BASE_IMAGES: Final = (
    BaseImage("debian:12", "debian12", 24, (("deb12-root", _DEB_ROOT, 4),)),
    BaseImage(
        "debian:12-curl",
        "debian12",
        14,
        (("deb12-root", _DEB_ROOT, 4), ("deb12-curl", _DEB_CURL, 0)),
    ),
    BaseImage("ubi8", "ubi8", 13, (("ubi8-root", _RPM_ROOT, 60),)),
    BaseImage("alpine:3.19", "alpine3.19", 11, (("alpine3.19-root", _APK_ROOT, 0),)),
    BaseImage(
        "debian:12-scm",
        "debian12",
        8,
        (("deb12-root", _DEB_ROOT, 4), ("deb12-curl", _DEB_CURL, 0), ("deb12-scm", _DEB_SCM, 0)),
    ),
    BaseImage(
        "ubi8-nodejs",
        "ubi8",
        7,
        (("ubi8-root", _RPM_ROOT, 60), ("ubi8-nodejs", "module nodejs:18", 12)),
    ),
    BaseImage("debian:11", "debian11", 6, (("deb11-root", _DEB_ROOT, 8),)),
    BaseImage(
        "ubi9-devel",
        "ubi9",
        5,
        (
            ("ubi9-root", _RPM_ROOT, 90),
            ("ubi9-devel", _RPM_DEVEL + " " + _PERL_WORDS, 40),
            ("ubi9-postgresql", "module postgresql:13", 8),
        ),
    ),
    BaseImage(
        "alpine:3.19-curl",
        "alpine3.19",
        5,
        (("alpine3.19-root", _APK_ROOT, 0), ("alpine3.19-curl", _APK_CURL, 6)),
    ),
    BaseImage("alpine:3.20", "alpine3.20", 4, (("alpine3.20-root", _APK_ROOT, 2),)),
)


def _digest(seed: int, label: str) -> Digest:
    return Digest(
        "sha256:" + hashlib.sha256(f"redis-store workload {seed} {label}".encode()).hexdigest()
    )


def layer_digest(seed: int, label: str) -> Digest:
    """The digest of the layer called ``label`` in the registry of ``seed``."""
    return _digest(seed, "layer " + label)


@dataclass(slots=True)
class _Layer:
    """A base layer with its content: every package record it introduces."""

    digest: Digest
    found: tuple[_Found, ...]


class _Bases:
    """The seed's base layers, built once and shared by every manifest that uses them."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.families = {name: make() for name, make in _FAMILIES.items()}
        self._versions: dict[tuple[str, str], str] = {}
        self._layers: dict[str, _Layer] = {}
        self.images = [
            (image, [self._layer(image.family, *spec) for spec in image.layers])
            for image in BASE_IMAGES
        ]
        self.weights = [image.weight for image in BASE_IMAGES]

    def version(self, family: str, source: str) -> str:
        """One version per (release, source package): binaries of a source share it."""
        key = (family, source)
        v = self._versions.get(key)
        if v is None:
            rng = random.Random(f"{self.seed} version {family} {source}")
            v = self._versions[key] = self.families[family].version(rng)
        return v

    def _layer(self, family: str, label: str, words: str, filler: int) -> _Layer:
        layer = self._layers.get(label)
        if layer is not None:
            return layer
        fam = self.families[family]
        rng = random.Random(f"{self.seed} layer {label}")
        specs: list[_Spec] = []
        module = ""
        build = f"{rng.randint(10000, 30000)}+{rng.getrandbits(32):08x}"
        if words.startswith("module "):
            module = words.split()[1]
            words = _RPM_MODULES[module]
        pairs = _pairs(words)
        for _ in range(filler):
            w = f"{rng.choice(_WORDS)}{rng.choice(_WORDS)}"
            pairs.append((f"lib{w}{rng.randint(0, 9)}", f"{w}"))
        seen: set[str] = set()
        for name, source in pairs:
            if name in seen:
                continue
            seen.add(name)
            if module:
                ver = self.version(family, f"{module} {source}")
                ver = f"{ver.rpartition('.el')[0]}.module+{fam.tag}.9.0+{build}"
            else:
                ver = self.version(family, source)
            src: tuple[str, str] | None = (source, fam.source_version(ver))
            if fam.where.detector is DPKG and source == name:
                src = None  # dpkg records no Source: field when it is the package itself
            specs.append(_Spec(name, ver, fam.arch(rng, name), module, src))
        layer = _Layer(layer_digest(self.seed, label), (_Found(fam.where, tuple(specs)),))
        self._layers[label] = layer
        return layer


# -- language packages ----------------------------------------------------------------------


def _semver(major: int, minor: int, patch: int) -> Version:
    return Version("semver", (0, major, minor, patch))


class _Languages:
    """Per-seed version lists of language packages, newest first (images lag behind)."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"{seed} languages")
        self.go_versions: dict[str, list[tuple[str, Version]]] = {}
        for mod in _GO_MODULES:
            major = 0 if rng.random() < 0.4 else 1
            minor = rng.randint(0, 30)
            vs = []
            for k in range(rng.randint(2, 5)):
                m, p = max(minor - k, 0), rng.randint(0, 12)
                vs.append((f"v{major}.{m}.{p}", _semver(major, m, p)))
            self.go_versions[mod] = vs
        self.stdlib = [
            (f"go1.{m}.{p}", _semver(1, m, p))
            for m, p in ((22, rng.randint(0, 9)), (21, rng.randint(0, 13)), (20, 14))
        ]
        self.py_versions: dict[str, list[tuple[str, Version]]] = {}
        for name in _PY_PACKAGES:
            major, minor = rng.randint(0, 4), rng.randint(0, 32)
            vs = []
            for k in range(rng.randint(2, 4)):
                m, p = max(minor - k, 0), rng.randint(0, 9)
                vs.append((f"{major}.{m}.{p}", Version("pep440", (0, major, m, p))))
            self.py_versions[name] = vs
        self.java_versions: dict[str, list[str]] = {}
        for name in _JAVA_PACKAGES:
            major, minor = rng.randint(1, 6), rng.randint(0, 20)
            self.java_versions[name] = [
                f"{major}.{max(minor - k, 0)}.{rng.randint(0, 9)}" for k in range(rng.randint(2, 4))
            ]

    @staticmethod
    def _pick(rng: random.Random, versions: Sequence[tuple[str, Version]]) -> tuple[str, Version]:
        return versions[min(int(rng.expovariate(1.2)), len(versions) - 1)]

    def go_binary(self, rng: random.Random, path: str, n: int) -> _Found:
        where = _Where(f"go:{path}", GOBIN, None, (GO_REPO,))
        v, nv = self._pick(rng, self.stdlib)
        specs = [_Spec("stdlib", v, normalized=nv)]
        for mod in rng.sample(_GO_MODULES, min(n, len(_GO_MODULES))):
            v, nv = self._pick(rng, self.go_versions[mod])
            specs.append(_Spec(mod, v, normalized=nv))
        return _Found(where, tuple(specs))

    def python(self, rng: random.Random, site: str, n: int) -> list[_Found]:
        out = []
        for name in rng.sample(_PY_PACKAGES, min(n, len(_PY_PACKAGES))):
            v, nv = self._pick(rng, self.py_versions[name])
            where = _Where(
                f"python:{site}/{name.replace('-', '_')}-{v}.dist-info", PYTHON, None, (PYPI_REPO,)
            )
            out.append(_Found(where, (_Spec(name, v, normalized=nv),)))
        return out

    def java(self, rng: random.Random, libdir: str, n: int) -> list[_Found]:
        out = []
        for name in rng.sample(_JAVA_PACKAGES, min(n, len(_JAVA_PACKAGES))):
            v, _ = self._pick(rng, [(x, ZERO_VERSION) for x in self.java_versions[name]])
            artifact = name.partition(":")[2]
            where = _Where(f"maven:{libdir}/{artifact}-{v}.jar", JAVA, None, (MAVEN_REPO,))
            out.append(_Found(where, (_Spec(name, v),)))
        return out


# -- reports --------------------------------------------------------------------------------


class _Ids:
    """Registry-wide IDs: one identity, one decimal ID, as claircore's tables hand out."""

    def __init__(self) -> None:
        self.packages: dict[tuple[str, str, str, str, str], str] = {}
        self.distributions: dict[tuple[str, ...], str] = {}
        self.repositories: dict[tuple[str, str, str], str] = {}
        self.zero = self.package("", "", PackageKind.UNKNOWN, "", "")

    def package(self, name: str, version: str, kind: str, module: str, arch: str) -> str:
        key = (name, version, kind, module, arch)
        pid = self.packages.get(key)
        if pid is None:
            pid = self.packages[key] = str(len(self.packages) + 1)
        return pid

    def distribution(self, d: Distribution) -> str:
        key = distribution_identity(d)
        did = self.distributions.get(key)
        if did is None:
            did = self.distributions[key] = str(len(self.distributions) + 1)
        return did

    def repository(self, r: Repository) -> str:
        key = (r.name, r.key, r.uri)
        rid = self.repositories.get(key)
        if rid is None:
            rid = self.repositories[key] = str(len(self.repositories) + 1)
        return rid


class _Report:
    """Accumulates one manifest's coalesced report."""

    def __init__(self, ids: _Ids, manifest: Digest) -> None:
        self.ids = ids
        self.report = IndexReport(hash=manifest, state="IndexFinished", success=True)

    def add(self, layer: Digest, found: _Found) -> None:
        ids, r, where = self.ids, self.report, found.where
        assert r.packages is not None and r.environments is not None
        assert r.distributions is not None and r.repositories is not None
        dist_id = ""
        if where.distribution is not None:
            dist_id = ids.distribution(where.distribution)
            if dist_id not in r.distributions:
                r.distributions[dist_id] = replace(where.distribution, id=dist_id)
        repo_ids: list[str] | None = None
        if where.repositories is not None:
            repo_ids = []
            for repo in where.repositories:
                rid = ids.repository(repo)
                repo_ids.append(rid)
                if rid not in r.repositories:
                    r.repositories[rid] = replace(repo, id=rid)
        for spec in found.packages:
            pid = ids.package(spec.name, spec.version, PackageKind.BINARY, spec.module, spec.arch)
            env = Environment(
                where.package_db, layer, dist_id, None if repo_ids is None else list(repo_ids)
            )
            envs = r.environments.get(pid)
            if envs is None:
                r.packages[pid] = self._package(pid, spec, where.detector)
                r.environments[pid] = [env]
            elif env not in envs:
                envs.append(env)

    def _package(self, pid: str, spec: _Spec, detector: Detector) -> Package:
        if spec.source is None:
            source = Package(id=self.ids.zero)
        else:
            name, version = spec.source
            sid = self.ids.package(name, version, PackageKind.SOURCE, spec.module, "")
            source = Package(
                id=sid, name=name, version=version, kind=PackageKind.SOURCE, module=spec.module
            )
        return Package(
            id=pid,
            name=spec.name,
            version=spec.version,
            kind=PackageKind.BINARY,
            source=source,
            normalized_version=spec.normalized,
            module=spec.module,
            arch=spec.arch,
            detector=detector,
        )


def _drift(bases: _Bases, family: str, layers: Sequence[_Layer], rng: random.Random) -> _Found:
    """Newer versions of a few base source packages (a security update in an upper layer)."""
    fam = bases.families[family]
    specs = [s for layer in layers for found in layer.found for s in found.packages]
    sources = sorted({s.source[0] if s.source else s.name for s in specs})
    chosen = set(rng.sample(sources, min(rng.randint(1, 3), len(sources))))
    k = 1 if rng.random() < 0.7 else 2  # few distinct updates: images share them
    out = []
    for s in specs:
        if (s.source[0] if s.source else s.name) not in chosen:
            continue
        v = fam.bump(s.version, k)
        src = None if s.source is None else (s.source[0], fam.source_version(v))
        out.append(_Spec(s.name, v, s.arch, s.module, src))
    return _Found(fam.where, tuple(out))


def _app_layers(
    langs: _Languages, rng: random.Random, seed: int, i: int
) -> list[tuple[Digest, list[_Found]]]:
    """One or two application layers with 0 to 60 language packages in all."""
    budget = min(int(rng.expovariate(1 / 22)), 60)
    layers: list[tuple[Digest, list[_Found]]] = []
    kinds = rng.choices(("go", "python", "java"), weights=(5, 3, 2), k=rng.randint(1, 2))
    for j, kind in enumerate(kinds):
        n = budget if j == len(kinds) - 1 else rng.randint(0, budget)
        budget -= n
        found: list[_Found] = []
        if kind == "go":
            # A second binary in the same image shares many of the first one's modules.
            split = [n] if n < 8 or rng.random() < 0.7 else [n - n // 3, n // 3]
            for b, modules in enumerate(split):
                found.append(langs.go_binary(rng, f"usr/local/bin/app{i}-{b}", modules))
        elif kind == "python" and n:
            found += langs.python(rng, "usr/local/lib/python3.11/site-packages", n)
        elif kind == "java" and n:
            found += langs.java(rng, f"opt/app{i}/lib", n)
        if found:
            layers.append((_digest(seed, f"manifest {i} app {j}"), found))
    return layers


def generate(manifests: int, seed: int = 0, *, drift: float = 0.2) -> Iterator[IndexReport]:
    """Yield ``manifests`` finished IndexReports of a seeded registry, one at a time.

    The same ``(manifests, seed)`` always gives the same reports, and a longer run starts
    with the reports of a shorter one. Base images are drawn with a skewed popularity, so
    most manifests share their base layers; ``drift`` is the fraction of manifests with an
    upper layer that upgrades some base packages.
    """
    if manifests < 0:
        raise ValueError("manifests must be >= 0")
    bases = _Bases(seed)
    langs = _Languages(seed)
    ids = _Ids()
    for i in range(manifests):
        rng = random.Random(f"{seed} manifest {i}")
        image, layers = rng.choices(bases.images, weights=bases.weights)[0]
        out = _Report(ids, _digest(seed, f"manifest {i}"))
        for layer in layers:
            for found in layer.found:
                out.add(layer.digest, found)
        if rng.random() < drift:
            out.add(_digest(seed, f"manifest {i} update"), _drift(bases, image.family, layers, rng))
        for digest, founds in _app_layers(langs, rng, seed, i):
            for found in founds:
                out.add(digest, found)
        yield out.report


# -- statistics -------------------------------------------------------------------------------


@dataclass(slots=True)
class WorkloadStats:
    """What a set of reports holds, for printing next to timings."""

    manifests: int = 0
    layers: int = 0
    shared_layers: int = 0
    packages: int = 0
    distinct_packages: int = 0
    environments: int = 0
    index_records: int = 0
    distributions: int = 0
    repositories: int = 0
    max_packages: int = 0
    by_detector: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def describe(reports: Iterable[IndexReport]) -> WorkloadStats:
    """Count manifests, distinct and shared layers, packages and records in ``reports``.

    ``packages`` counts per report (what each report lists); ``distinct_packages`` counts
    identities (what a store keeps once).
    """
    st = WorkloadStats()
    layer_uses: dict[str, int] = {}
    pkgs: set[tuple[str, str, str, str, str]] = set()
    dists: set[tuple[str, ...]] = set()
    repos: set[tuple[str, str, str]] = set()
    for r in reports:
        st.manifests += 1
        packages = r.packages or {}
        environments = r.environments or {}
        st.packages += len(packages)
        st.max_packages = max(st.max_packages, len(packages))
        st.index_records += len(r.index_records())
        layers: set[str] = set()
        for p in packages.values():
            pkgs.add((p.name, p.version, str(p.kind), p.module, p.arch))
            det = p.detector.name if p.detector else ""
            st.by_detector[det] = st.by_detector.get(det, 0) + 1
            for env in environments.get(p.id) or ():
                st.environments += 1
                if env.introduced_in is not None:
                    layers.add(env.introduced_in)
        for layer in layers:
            layer_uses[layer] = layer_uses.get(layer, 0) + 1
        for d in (r.distributions or {}).values():
            dists.add(distribution_identity(d))
        for rp in (r.repositories or {}).values():
            repos.add((rp.name, rp.key, rp.uri))
    st.layers = len(layer_uses)
    st.shared_layers = sum(1 for n in layer_uses.values() if n > 1)
    st.distinct_packages = len(pkgs)
    st.distributions = len(dists)
    st.repositories = len(repos)
    return st


def sample_vulnerabilities(
    reports: Sequence[IndexReport], count: int, seed: int = 0
) -> list[Vulnerability]:
    """``count`` vulnerabilities drawn from the reports' packages, each shaped like what
    claircore's updaters produce for that ecosystem, so that the default matchers find the
    manifests holding the package (and, for a fixed version below it, not all of them)."""
    rng = random.Random(seed)
    rows: list[tuple[Package, Distribution | None, Repository | None]] = []
    for report in reports:
        for pkg in (report.packages or {}).values():
            for env in (report.environments or {}).get(pkg.id) or ():
                dist = (report.distributions or {}).get(env.distribution_id)
                repo_ids = env.repository_ids or [""]
                for rid in repo_ids:
                    rows.append((pkg, dist, (report.repositories or {}).get(rid)))
    if not rows:
        return []
    out = []
    for i in range(count):
        pkg, dist, repo = rows[rng.randrange(len(rows))]
        out.append(
            _vulnerability_for(f"CVE-{2000 + i // 10000}-{i % 10000:04d}", pkg, dist, repo, rng)
        )
    return out


def _vulnerability_for(
    vid: str,
    pkg: Package,
    dist: Distribution | None,
    repo: Repository | None,
    rng: random.Random,
) -> Vulnerability:
    severity = Severity(rng.randrange(len(Severity)))
    v = Vulnerability(
        id=vid,
        name=vid,
        updater="workload",
        normalized_severity=severity,
        package=Package(name=pkg.name),
        fixed_in_version="",
    )
    if repo is not None and repo.uri == "https://pkg.go.dev/":
        nv = pkg.normalized_version
        upper = Version(nv.kind, (*nv.v[:3], nv.v[3] + 1, *nv.v[4:])) if nv.kind else nv
        v.repository = Repository(name="go", uri="https://pkg.go.dev/")
        v.range = Range(Version("semver", (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), upper)
    elif repo is not None and repo.key == "rhel-cpe-repository":
        v.repository = Repository(name=repo.name, key=repo.key, cpe=repo.cpe)
        v.fixed_in_version = pkg.version + ".1" if rng.random() < 0.7 else ""
    elif repo is not None and repo.name in ("pypi", "maven", "rubygems"):
        v.repository = Repository(name=repo.name)
        v.fixed_in_version = "fixed=999" if rng.random() < 0.7 else ""
    elif dist is not None:
        v.distribution = Distribution(
            did=dist.did,
            name=dist.name,
            version=dist.version,
            version_id=dist.version_id,
            pretty_name=dist.pretty_name,
        )
        fixed = "99.0" if dist.did == "alpine" else "99:" + pkg.version
        v.fixed_in_version = fixed if rng.random() < 0.7 else ""
    return v
