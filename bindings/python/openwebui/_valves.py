"""The valves both files share, their environment overrides, and the
directories, users and chats they name."""

from __future__ import annotations

import os
import typing
import urllib.parse
from collections.abc import Callable

import pydantic

OVERRIDE_PREFIX = "CODE_EVAL_VALVE_OVERRIDE_"
LANGUAGES = ("python", "bash")
# Open WebUI keeps DATA_DIR here when the variable is not set.
_DEFAULT_DATA_DIR = "/app/backend/data"
# The model does not need more than this of a failure explanation.
_MAX_MESSAGE_CHARS = 4096

EventEmitter: typing.TypeAlias = Callable[[dict[str, typing.Any]], typing.Any] | None


def _override_note(name: str) -> str:
    return f" Overridable by environment variable {OVERRIDE_PREFIX}{name}."


class ValveError(ValueError):
    """A valve (or its environment override) has a value outside its bounds."""


def storage_path_valve(default: str = "") -> typing.Any:
    """The WEB_ACCESSIBLE_DIRECTORY_PATH field; each file gives its own
    default (no default: required)."""
    return pydantic.Field(
        default=default or ...,
        min_length=1,
        description="Directory generated files are kept in (one subdirectory per user). "
        "A leading $DATA_DIR is replaced by Open WebUI's data directory."
        + _override_note("WEB_ACCESSIBLE_DIRECTORY_PATH"),
    )


def storage_url_valve(default: str = "") -> typing.Any:
    """The WEB_ACCESSIBLE_DIRECTORY_URL field; each file gives its own
    default (no default: required)."""
    return pydantic.Field(
        default=default or ...,
        min_length=1,
        description="URL under which WEB_ACCESSIBLE_DIRECTORY_PATH is served; may start "
        "with '/' to be relative to Open WebUI." + _override_note("WEB_ACCESSIBLE_DIRECTORY_URL"),
    )


class Valves(pydantic.BaseModel):
    """The valves of both files. The storage location has no default here:
    each file subclasses this and names its own (as the plugin we replace
    did), e.g. `WEB_ACCESSIBLE_DIRECTORY_PATH: str = storage_path_valve(...)`."""

    model_config = pydantic.ConfigDict(validate_assignment=True)

    NETWORKING_ALLOWED: bool = pydantic.Field(
        default=False,
        description="Let code open outbound connections. The host's own services, "
        "link-local and cloud metadata addresses and private ranges stay unreachable."
        + _override_note("NETWORKING_ALLOWED"),
    )
    MAX_RUNTIME_SECONDS: int = pydantic.Field(
        default=30,
        ge=1,
        description="Wall-clock seconds code may run before it is stopped."
        + _override_note("MAX_RUNTIME_SECONDS"),
    )
    MAX_RAM_MEGABYTES: int = pydantic.Field(
        default=128,
        ge=0,
        description="Memory the sandbox may use, in MiB; 0 disables the cap."
        + _override_note("MAX_RAM_MEGABYTES"),
    )
    REQUIRE_RESOURCE_LIMITING: bool = pydantic.Field(
        default=True,
        description="Refuse to run when this host cannot enforce the caps "
        "(instead of running without them)." + _override_note("REQUIRE_RESOURCE_LIMITING"),
    )
    AUTO_INSTALL: bool = pydantic.Field(
        default=True,
        description="Kept for compatibility. Nothing is ever downloaded: install gVisor "
        "with your package manager (the error message says how)." + _override_note("AUTO_INSTALL"),
    )
    CHECK_FOR_UPDATES: bool = pydantic.Field(
        default=False,
        description="Kept for compatibility. No update check ever reaches the network; "
        "update with `pip install -U libsandbox`." + _override_note("CHECK_FOR_UPDATES"),
    )
    DEBUG: bool = pydantic.Field(
        default=False,
        description="Show host diagnostics in failure messages (admins only)." + _override_note("DEBUG"),
    )
    MAX_FILES_PER_EXECUTION: int = pydantic.Field(
        default=32,
        ge=1,
        description="Files one run may leave behind to be kept." + _override_note("MAX_FILES_PER_EXECUTION"),
    )
    MAX_FILES_PER_USER: int = pydantic.Field(
        default=4096,
        ge=1,
        description="Files kept per user; older runs are evicted whole, oldest first."
        + _override_note("MAX_FILES_PER_USER"),
    )
    MAX_MEGABYTES_PER_USER: int = pydantic.Field(
        default=256,
        ge=1,
        description="MiB of files kept per user; older runs are evicted whole, oldest first."
        + _override_note("MAX_MEGABYTES_PER_USER"),
    )
    WEB_ACCESSIBLE_DIRECTORY_PATH: str = storage_path_valve()
    WEB_ACCESSIBLE_DIRECTORY_URL: str = storage_url_valve()
    MAX_CPUS: float = pydantic.Field(
        default=1.0,
        ge=0,
        le=1024,
        description="CPU cores the sandbox may use; 0 disables the cap." + _override_note("MAX_CPUS"),
    )
    MAX_PIDS: int = pydantic.Field(
        default=128,
        ge=0,
        le=1 << 22,
        description="Processes and threads the sandbox may have at once; 0 disables the cap."
        + _override_note("MAX_PIDS"),
    )
    MAX_OUTPUT_BYTES: int = pydantic.Field(
        default=1 << 20,
        ge=1024,
        le=64 << 20,
        description="Bytes of stdout (and, separately, stderr) kept; the rest is dropped "
        "and the output is marked truncated." + _override_note("MAX_OUTPUT_BYTES"),
    )
    MAX_WORKSPACE_MEGABYTES: int = pydantic.Field(
        default=256,
        ge=1,
        le=1 << 20,
        description="Size of the sandbox's writable home directory (and of /tmp), in MiB."
        + _override_note("MAX_WORKSPACE_MEGABYTES"),
    )
    WARM_POOL_SIZE: int = pydantic.Field(
        default=1,
        ge=0,
        le=16,
        description="Sandboxes kept pre-booted per language (Python and bash) so code starts "
        "faster; each is used for one run only, then discarded. 0 boots every sandbox on demand."
        + _override_note("WARM_POOL_SIZE"),
    )
    WARM_POOL_MAX_SIZE: int = pydantic.Field(
        default=0,
        ge=0,
        le=64,
        description="When many runs arrive at once the pool grows, per language, up to this many "
        "pre-booted sandboxes (~70 MiB each), and shrinks back after a quiet minute. 0 sizes it to "
        "the machine (8 per core, at most 64, within a quarter of its memory); the same as "
        "WARM_POOL_SIZE turns growth off. One pool serves the tool, the function and every valve "
        "set; the most recently changed valves size it." + _override_note("WARM_POOL_MAX_SIZE"),
    )
    SESSION_MODE: typing.Literal["off", "chat", "user"] = pydantic.Field(
        default="off",
        description="'off': every run starts from an empty sandbox. 'chat': runs in one chat share "
        "one persistent sandbox (files, current directory, Python variables holding data and "
        "imported modules); 'user': one per user across chats. Callers without a user id always "
        "get one-shot runs." + _override_note("SESSION_MODE"),
    )
    SESSION_IDLE_TIMEOUT_MINUTES: int = pydantic.Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="A session's sandbox stops after this many minutes without a run; its files "
        "stay and the next run boots it again." + _override_note("SESSION_IDLE_TIMEOUT_MINUTES"),
    )
    SESSION_WORKSPACE_MEGABYTES: int = pydantic.Field(
        default=512,
        ge=0,
        le=1 << 20,
        description="Size cap of a session's persistent home directory, in MiB (an ext4 volume: "
        "needs loop devices; 0 leaves it uncapped, for hosts without them). Its /tmp has "
        "MAX_WORKSPACE_MEGABYTES." + _override_note("SESSION_WORKSPACE_MEGABYTES"),
    )
    SESSION_DIRECTORY_PATH: str = pydantic.Field(
        default="$DATA_DIR/libsandbox",
        min_length=1,
        description="Directory session workspaces are kept in; never a web-served one (code "
        "writes there directly). A leading $DATA_DIR is replaced by Open WebUI's data directory."
        + _override_note("SESSION_DIRECTORY_PATH"),
    )
    POLICY: str = pydantic.Field(
        default="",
        pattern=r"^[a-z0-9_-]{0,64}$",
        description="Named policy of POLICY_FILE to run under; its limits and network replace "
        "the MAX_* limit valves and NETWORKING_ALLOWED. Empty: no policy." + _override_note("POLICY"),
    )
    POLICY_FILE: str = pydantic.Field(
        default="",
        pattern=r"^(/.*\.(textproto|txtpb|pbtxt|json))?$",
        description="Absolute path of the admin's policy file (caps and named policies; "
        ".textproto, .txtpb, .pbtxt or .json). Empty: none." + _override_note("POLICY_FILE"),
    )
    MAX_ATTACHMENT_MEGABYTES: int = pydantic.Field(
        default=32,
        ge=0,
        le=1 << 12,
        description="MiB of the chat's attached files copied into the sandbox's home directory "
        "before a run (files beyond it are left out and named in the reply). 0: none are copied."
        + _override_note("MAX_ATTACHMENT_MEGABYTES"),
    )
    ATTACHMENT_DIRECTORY_PATH: str = pydantic.Field(
        default="$DATA_DIR/uploads",
        min_length=1,
        description="Only attached files stored below this directory (Open WebUI's uploads) are "
        "copied. A leading $DATA_DIR is replaced by Open WebUI's data directory."
        + _override_note("ATTACHMENT_DIRECTORY_PATH"),
    )


_V = typing.TypeVar("_V", bound=Valves)


def effective_valves(valves: _V) -> _V:
    """`valves` with every CODE_EVAL_VALVE_OVERRIDE_<NAME> applied and
    validated against the valve's own bounds; raises ValveError naming each
    bad value."""
    data = valves.model_dump()
    overridden: dict[str, str] = {}
    for name in type(valves).model_fields:
        raw = os.environ.get(OVERRIDE_PREFIX + name)
        if raw is not None:
            overridden[name] = raw
            data[name] = raw.strip()
    try:
        return type(valves).model_validate(data)
    except pydantic.ValidationError as e:
        problems = []
        for error in e.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            if name in overridden:
                where = f"{OVERRIDE_PREFIX}{name}={overridden[name]!r}"
            else:
                where = f"valve {name}={data.get(name)!r}"
            problems.append(f"{where}: {error['msg']}")
        raise ValveError("; ".join(problems)) from None


class Plugin(typing.Generic[_V]):
    """What Open WebUI needs of a Tools or Action class: `Valves`, the
    class, and `valves`, the values (Open WebUI replaces them with the ones
    the admin saved)."""

    Valves: type[_V]

    def __init__(self) -> None:
        self.valves: _V = self.Valves()


def _valve_path(name: str, path: str) -> str:
    """The directory valve `name` names, $DATA_DIR expanded."""
    if path == "$DATA_DIR" or path.startswith("$DATA_DIR/"):
        data_dir = os.environ.get("DATA_DIR")
        if not data_dir:
            if not os.path.isdir(os.path.dirname(_DEFAULT_DATA_DIR)):
                raise ValveError(
                    f"{name} starts with $DATA_DIR but DATA_DIR is not "
                    "set; set DATA_DIR or give the valve an absolute path"
                )
            data_dir = _DEFAULT_DATA_DIR
        path = data_dir + path[len("$DATA_DIR") :]
    if not os.path.isabs(path):
        raise ValveError(f"{name} must be an absolute path, not {path!r}")
    return os.path.normpath(path)


def storage_dir(valves: Valves) -> str:
    """The directory WEB_ACCESSIBLE_DIRECTORY_PATH names, $DATA_DIR expanded."""
    return _valve_path("WEB_ACCESSIBLE_DIRECTORY_PATH", valves.WEB_ACCESSIBLE_DIRECTORY_PATH)


def session_dir(valves: Valves) -> str:
    """The directory SESSION_DIRECTORY_PATH names, $DATA_DIR expanded;
    never one below the web-served WEB_ACCESSIBLE_DIRECTORY_PATH, since code
    writes (and could link to host files) there directly."""
    path = _valve_path("SESSION_DIRECTORY_PATH", valves.SESSION_DIRECTORY_PATH)
    served = os.path.realpath(storage_dir(valves))
    real = os.path.realpath(path)
    if os.path.commonpath([served, real]) == served:
        raise ValveError(
            "SESSION_DIRECTORY_PATH must be outside WEB_ACCESSIBLE_DIRECTORY_PATH, which is "
            "served to browsers"
        )
    return path


def attachment_dir(valves: Valves) -> str:
    """The directory ATTACHMENT_DIRECTORY_PATH names, $DATA_DIR expanded."""
    return _valve_path("ATTACHMENT_DIRECTORY_PATH", valves.ATTACHMENT_DIRECTORY_PATH)


def file_url(valves: Valves, root: str, host_path: str) -> str | None:
    """The download URL of a kept file, or None when it is not below `root`
    (never hand out other host paths)."""
    real_root = os.path.realpath(root)
    real_path = os.path.realpath(host_path)
    if os.path.commonpath([real_root, real_path]) != real_root or real_path == real_root:
        return None
    relative = os.path.relpath(real_path, real_root)
    return valves.WEB_ACCESSIBLE_DIRECTORY_URL.rstrip("/") + "/" + urllib.parse.quote(relative)


def is_admin(user: dict[str, typing.Any] | None) -> bool:
    """Whether Open WebUI's caller is an admin (who alone sees DEBUG details)."""
    return isinstance(user, dict) and user.get("role") == "admin"


def user_id(user: dict[str, typing.Any] | None) -> str:
    """The key of the caller's private file store: Open WebUI's user id."""
    if isinstance(user, dict) and user.get("id") is not None:
        return str(user["id"])
    return ""


def chat_id(*sources: object) -> str:
    """The chat a call belongs to: the first of Open WebUI's `__chat_id__`,
    or a `chat_id` in `__metadata__` or the action's body."""
    for source in sources:
        value = source.get("chat_id") if isinstance(source, dict) else source
        if isinstance(value, str) and value:
            return value
    return ""


def _clip(text: str, limit: int = _MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + " [...]"
