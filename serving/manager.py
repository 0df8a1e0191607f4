"""Model lifecycle: which versions are loaded, their states, labels, polling and reloads.

Mirrors TF Serving's ``ServerCore`` with its availability-preserving policy:
new versions are found by polling each base path, loaded, warmed up and only
then marked AVAILABLE; an old version is unloaded only once a version it makes
way for is AVAILABLE, so a bad new version never takes down a serving one.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from zoo.serving import errors
from zoo.serving.exporter import version_dirs
from zoo.serving.servable import Servable

logger = logging.getLogger(__name__)

State = get_model_status_pb2.ModelVersionStatus.State
START, LOADING, AVAILABLE, UNLOADING, END = State.START, State.LOADING, State.AVAILABLE, State.UNLOADING, State.END


@dataclasses.dataclass
class VersionRecord:
    """One version's lifecycle: its state, the error that ended it, and the loaded servable."""

    version: int
    path: Path
    state: int = START
    error: errors.ServingError | None = None
    servable: Servable | None = None
    stamp: tuple | None = None  # what the files looked like when loading started


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (TensorFlow's carry node and stack-trace lines)."""
    import tensorflow as tf

    from zoo.serving.errors import _op_error_line

    if isinstance(err, tf.errors.OpError):
        return _op_error_line(err)
    return " ".join(str(err).split()) or type(err).__name__


def _load_error_code(err: BaseException):
    """TF Serving's status code for a load failure: TensorFlow's own code, NOT_FOUND for missing files."""
    import tensorflow as tf

    if isinstance(err, tf.errors.OpError):
        return errors.code_from_number(err.error_code)
    if isinstance(err, FileNotFoundError):
        return errors.grpc.StatusCode.NOT_FOUND
    if isinstance(err, ValueError):
        return errors.grpc.StatusCode.INVALID_ARGUMENT
    return errors.grpc.StatusCode.UNKNOWN


def _stamp(path: Path) -> tuple:
    """Modification times and sizes of a version's top-level entries: a failed version whose
    files change (a non-atomic copy that finished, say) is loaded again."""
    try:
        return tuple(sorted((p.name, s.st_mtime_ns, s.st_size) for p in path.iterdir() for s in [p.stat()]))
    except OSError:
        return ()


@dataclasses.dataclass
class ModelRecord:
    config: model_server_config_pb2.ModelConfig
    versions: dict[int, VersionRecord] = dataclasses.field(default_factory=dict)
    labels: dict[str, int] = dataclasses.field(default_factory=dict)  # in force (checked) labels


def aspired_versions(config: model_server_config_pb2.ModelConfig, on_disk: list[int]) -> set[int]:
    """The versions a model's version policy wants loaded, of those on disk.

    Example:
        >>> config = model_server_config_pb2.ModelConfig(name="m")
        >>> sorted(aspired_versions(config, [1, 2, 3]))
        [3]
        >>> config.model_version_policy.all.SetInParent()
        >>> sorted(aspired_versions(config, [1, 2, 3]))
        [1, 2, 3]
    """
    policy = config.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return set(on_disk)
    if kind == "specific":
        return set(policy.specific.versions) & set(on_disk)
    n = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions > 0 else 1
    return set(sorted(on_disk)[-n:])


def validate_config(config: model_server_config_pb2.ModelServerConfig) -> None:
    """Rejects configs TF Serving rejects: no model list, duplicate or empty names, other platforms.

    Raises:
        ServingError: INVALID_ARGUMENT.
    """
    if config.WhichOneof("config") == "custom_model_config":
        raise errors.invalid_argument("custom_model_config is not supported; use model_config_list.")
    names = [c.name for c in config.model_config_list.config]
    if any(not n for n in names):
        raise errors.invalid_argument("Every model in the config needs a name.")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise errors.invalid_argument(f"Illegal to list model {duplicates[0]} multiple times in config list")
    for c in config.model_config_list.config:
        if not c.base_path:
            raise errors.invalid_argument(f"Model {c.name} has no base_path.")
        if c.model_platform not in ("", "tensorflow"):
            raise errors.invalid_argument(f"Model {c.name}: unsupported model_platform {c.model_platform!r}.")


class ModelManager:
    """Loads, serves and unloads model versions according to a ``ModelServerConfig``.

    Args:
        config: the models to serve.
        prepare: called on each freshly loaded servable before it becomes AVAILABLE
            (attach batchers, replay warmup requests); an exception fails the version.
        on_state: called with (model, version, state) on every state change (metrics).
        load_threads: versions loaded in parallel (``--num_load_threads``; 0 means 1).
        servable_options: keyword arguments of every ``Servable`` (``tags``, ``config``).
        allow_labels_for_unavailable: a label not yet in force may name a version that is not
            AVAILABLE (``--allow_version_labels_for_unavailable_models``); requests through it get
            NOT_FOUND until that version loads. A label already in force still moves only to an
            AVAILABLE version.
    """

    def __init__(
        self,
        config: model_server_config_pb2.ModelServerConfig,
        *,
        prepare: Callable[[Servable], None] | None = None,
        on_state: Callable[[str, int, int], None] | None = None,
        load_threads: int = 2,
        servable_options: dict | None = None,
        allow_labels_for_unavailable: bool = False,
    ):
        validate_config(config)
        self._allow_labels_for_unavailable = allow_labels_for_unavailable
        self._prepare = prepare
        self._servable_options = dict(servable_options or {})
        self._on_state = on_state or (lambda *_: None)
        self._models: dict[str, ModelRecord] = {c.name: ModelRecord(config=c) for c in config.model_config_list.config}
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max(load_threads, 1), thread_name_prefix="kzoo-load")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- queries (request path) ---------------------------------------------
    @staticmethod
    def _label_version(model: ModelRecord, label: str) -> int:
        if label not in model.labels:
            raise errors.invalid_argument(f"Unrecognized servable version label: {label}")
        return model.labels[label]

    def servable(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a request's ``ModelSpec`` names, with TF Serving's errors.

        Raises:
            ServingError: NOT_FOUND (unknown model, version not available),
                INVALID_ARGUMENT (empty name, unknown label).
        """
        if not name:
            raise errors.invalid_argument("ModelSpec has no name specified.")
        with self._lock:
            model = self._models.get(name)
            if model is None:
                raise errors.not_found(f"Servable not found for request: Latest({name})")
            if label:
                version = self._label_version(model, label)
            if version is None:
                available = [v for v in model.versions.values() if v.state == AVAILABLE]
                if not available:
                    raise errors.not_found(f"Servable not found for request: Latest({name})")
                return max(available, key=lambda v: v.version).servable
            record = model.versions.get(int(version))
            if record is None or record.state != AVAILABLE:
                raise errors.not_found(f"Servable not found for request: Specific({name}, {version})")
            return record.servable

    def statuses(self, name: str, version: int | None = None, label: str | None = None) -> list[VersionRecord]:
        """Version records for GetModelStatus, newest first (one version when a version or label is given).

        Raises:
            ServingError: NOT_FOUND for an unknown model or version, INVALID_ARGUMENT for an unknown label.
        """
        if not name:
            raise errors.invalid_argument("ModelSpec has no name specified.")
        with self._lock:
            model = self._models.get(name)
            if model is None or not model.versions:
                raise errors.not_found(f"Could not find any versions of model {name}")
            if label:
                version = self._label_version(model, label)
            if version is not None:
                record = model.versions.get(int(version))
                if record is None:
                    raise errors.not_found(f"Could not find version {version} of model {name}")
                return [dataclasses.replace(record)]
            return [dataclasses.replace(r) for _, r in sorted(model.versions.items(), reverse=True)]

    def ready(self) -> bool:
        """True when every configured model has an AVAILABLE version."""
        with self._lock:
            return all(any(v.state == AVAILABLE for v in m.versions.values()) for m in self._models.values())

    # --- lifecycle ----------------------------------------------------------
    def _set_state(self, model: str, record: VersionRecord, state: int, error=None) -> None:
        with self._lock:
            record.state, record.error = state, error
        self._on_state(model, record.version, state)

    def _load(self, name: str, record: VersionRecord) -> None:
        self._set_state(name, record, LOADING)
        try:
            servable = Servable(name, record.version, record.path, **self._servable_options)
            if self._prepare is not None:
                self._prepare(servable)
        except Exception as err:  # noqa: BLE001 - a bad version must not stop the server
            error = (
                err
                if isinstance(err, errors.ServingError)
                else errors.ServingError(
                    _load_error_code(err),
                    f"Failed to load {name} version {record.version} from "
                    f"{record.path}: {type(err).__name__}: {_one_line(err)}",
                )
            )
            # TF Serving's loader logs the failure with the servable's id, then reports it in the status.
            logger.error("Loading servable: {name: %s version: %d} failed: %s", name, record.version, error.message)
            self._set_state(name, record, END, error)
            return
        with self._lock:
            current = self._models.get(name)
            orphaned = self._stop.is_set() or current is None or record not in current.versions.values()
            if not orphaned:
                record.servable = servable
        if orphaned:  # stopped, or the model left the config while this version loaded
            servable.close()
            self._set_state(name, record, END)
            return
        self._set_state(name, record, AVAILABLE)
        logger.info("Model %s version %d is AVAILABLE (%s)", name, record.version, record.path)

    def _unload(self, name: str, record: VersionRecord) -> None:
        self._set_state(name, record, UNLOADING)
        with self._lock:
            servable, record.servable = record.servable, None
        if servable is not None:
            servable.close()
        self._set_state(name, record, END)
        logger.info("Model %s version %d unloaded", name, record.version)

    def poll(self) -> None:
        """Scans every base path once: loads aspired versions, unloads what they replace."""
        with self._poll_lock:
            self._poll()

    @staticmethod
    def _scans(models, report: bool = False):
        """(name, model, versions on disk, aspired versions) for each model whose base path can be read.

        With ``report``, logs what TF Serving's FileSystemStoragePathSource logs on each poll: a
        base path that does not exist (or cannot be read), and one without version directories.
        """
        for name, model in models:
            base = model.config.base_path
            try:
                if not Path(base).is_dir():
                    raise FileNotFoundError(f"{base} not found")
                on_disk = version_dirs(base)
            except OSError as err:  # one unreadable base path must not stop the others
                if report:
                    logger.error(
                        "FileSystemStoragePathSource encountered a filesystem access error: Could not find "
                        "base path %s for servable %s with error NOT_FOUND: %s",
                        base,
                        name,
                        err.strerror or err,
                    )
                continue
            if report and not on_disk:
                logger.warning(
                    "No versions of servable %s found under base path %s. Did you forget to name your "
                    "leaf directory as a number (eg. '/1/')?",
                    name,
                    base,
                )
            yield name, model, on_disk, aspired_versions(model.config, list(on_disk))

    def _poll(self) -> None:
        with self._lock:
            models = list(self._models.items())
        loads = []
        for name, model, on_disk, aspired in self._scans(models, report=True):
            with self._lock:
                for v in sorted(aspired):
                    record = model.versions.get(v)
                    if record is not None and record.state != END:
                        continue
                    stamp = _stamp(on_disk[v])
                    if record is None or record.error is None or record.stamp != stamp:
                        record = model.versions[v] = VersionRecord(v, on_disk[v], stamp=stamp)
                        loads.append(self._pool.submit(self._load, name, record))
        concurrent.futures.wait(loads)
        for name, model, on_disk, aspired in self._scans(models):
            with self._lock:
                serving_aspired = any(r.state == AVAILABLE for v, r in model.versions.items() if v in aspired)
                retire = [
                    r
                    for v, r in model.versions.items()
                    if r.state == AVAILABLE and v not in aspired and (serving_aspired or v not in on_disk)
                ]
            for record in retire:
                self._unload(name, record)

    def reload_config(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """Replaces the served models (HandleReloadConfigRequest): new ones load, dropped ones unload.

        Blocks until the new config's versions have loaded or failed. A model whose
        base path changes keeps serving from the old path until the new one has an
        AVAILABLE version. Labels take effect only if every label of the new config
        points at an AVAILABLE version; otherwise the old labels stay.

        Raises:
            ServingError: INVALID_ARGUMENT for an invalid config; FAILED_PRECONDITION
                for a label naming a version that is not AVAILABLE.
        """
        validate_config(config)
        with self._poll_lock:
            dropped, moved = [], []
            with self._lock:
                new = {c.name: c for c in config.model_config_list.config}
                previous = set(self._models)
                for name in list(self._models):
                    if name not in new:
                        dropped.append(self._models.pop(name))
                for name, model_config in new.items():
                    old = self._models.get(name)
                    if old is None:
                        self._models[name] = ModelRecord(config=model_config)
                    elif old.config.base_path != model_config.base_path:
                        moved.append(old)
                        self._models[name] = ModelRecord(config=model_config, labels=dict(old.labels))
                    else:
                        old.config = model_config
            for model in dropped:
                self._unload_all(model)
            self._poll()
            added = [name for name in new if name not in previous]
            for old in moved:
                name = old.config.name
                with self._lock:
                    replacement = self._models[name]
                    ready = any(r.state == AVAILABLE for r in replacement.versions.values())
                    if not ready:  # keep serving from the old path, with the old config
                        self._models[name] = old
                if ready:
                    self._unload_all(old)
                else:
                    logger.error(
                        "Model %s: nothing loads from %s; still serving from the old path.",
                        name,
                        replacement.config.base_path,
                    )
                    self._unload_all(replacement)
            self._apply_labels()
            self._check_available(added)

    def _check_available(self, names: list[str]) -> None:
        """Raises, as TF Serving's ReloadConfig does, when models new to the config did not become AVAILABLE.

        Raises:
            ServingError: UNKNOWN, "N model(s) did not become available: {...}" with each version's error.
        """
        failed = []
        with self._lock:
            for name in names:
                model = self._models.get(name)
                if model is None or any(r.state == AVAILABLE for r in model.versions.values()):
                    continue
                if not model.versions:
                    failed.append(f"{{name: {name} version: (none found under {model.config.base_path})}}")
                for version, record in sorted(model.versions.items()):
                    reason = f" due to error: {record.error.code_name}: {record.error.message}" if record.error else ""
                    failed.append(f"{{name: {name} version: {version}}}{reason}")
        if failed:
            message = f"{len(failed)} model(s) did not become available: {{{', '.join(failed)}, }}"
            logger.error("%s", message)
            raise errors.ServingError(errors.grpc.StatusCode.UNKNOWN, message)

    def _unload_all(self, model: ModelRecord) -> None:
        for record in list(model.versions.values()):
            if record.state == AVAILABLE:
                self._unload(model.config.name, record)

    def _apply_labels(self) -> None:
        """Puts each model's configured labels in force, all or none.

        Raises:
            ServingError: FAILED_PRECONDITION naming the label's version, as TF Serving.
        """
        with self._lock:
            for name, model in self._models.items():
                for label, version in model.config.version_labels.items():
                    record = model.versions.get(version)
                    if self._allow_labels_for_unavailable and model.labels.get(label, version) == version:
                        continue  # TF Serving: an unused label may point at a version still to come
                    if record is None or record.state != AVAILABLE:
                        raise errors.failed_precondition(
                            f"Request to assign label to version {version} of model {name}, which is not "
                            f"currently available for inference"
                        )
            for model in self._models.values():
                model.labels = dict(model.config.version_labels)

    def start(self, file_system_poll_wait_seconds: float = 1.0) -> None:
        """Loads the initial versions (blocking), then polls in the background (0 = never).

        Raises:
            ServingError: FAILED_PRECONDITION when a label names a version that did not load.
        """
        self.poll()
        self._apply_labels()
        if file_system_poll_wait_seconds > 0:
            self._spawn(self.poll, file_system_poll_wait_seconds, "kzoo-fs-poll")

    def watch_config_file(self, path: str | Path, seconds: float, read: Callable) -> None:
        """Re-reads ``path`` every ``seconds`` and reloads when its content changes."""
        path = Path(path)
        last = {"text": path.read_text() if path.exists() else None}

        def check():
            try:
                text = path.read_text()
            except OSError as err:
                logger.error("Cannot read model config %s: %s", path, err)
                return
            if text == last["text"]:
                return
            last["text"] = text
            try:
                config = read(path)
            except ValueError as err:  # TF Serving keeps the running config
                logger.error("Failed to read ModelServerConfig file: %s", err)
                return
            try:
                self.reload_config(config)
                logger.info("Reloaded model config from %s", path)
            except errors.ServingError as err:  # applied, but a model failed: its status says why
                logger.error("PollFilesystemAndReloadConfig failed to ReloadConfig: %s: %s", err.code_name, err.message)

        self._spawn(check, seconds, "kzoo-config-poll")

    def _spawn(self, step: Callable[[], None], seconds: float, name: str) -> None:
        def loop():
            while not self._stop.wait(seconds):
                try:
                    step()
                except Exception:  # noqa: BLE001 - polling must survive anything
                    logger.exception("%s failed", name)

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stops polling and unloads everything (a load still running is discarded when it ends)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        with self._poll_lock:
            with self._lock:
                models = list(self._models.values())
            for model in models:
                self._unload_all(model)
        self._pool.shutdown(wait=True)
