"""Open WebUI's status and citation events around one run."""

from __future__ import annotations

import asyncio
import inspect
import os
import pathlib
import sys
import typing
import uuid

import libsandbox

from ._attachments import AttachmentSource, read_attachments
from ._runs import RunOutcome, failure_message, sandbox_run, session_key, session_run, stop_sessions
from ._store import OpenWebUIStore
from ._valves import EventEmitter, ValveError, Valves, effective_valves, is_admin, storage_dir, user_id


class Events:
    """Sends Open WebUI events; a broken emitter never fails the run."""

    def __init__(self, emitter: EventEmitter, debug: bool) -> None:
        self._emitter = emitter
        self.debug = debug

    async def emit(self, kind: str, data: dict[str, typing.Any]) -> None:
        if self._emitter is None:
            return
        try:
            maybe = self._emitter({"type": kind, "data": data})
            if inspect.isawaitable(maybe):
                await maybe
        except Exception as e:  # The chat may be gone; the run still counts.
            if self.debug:
                print(f"event emitter failed: {e!r}", file=sys.stderr)

    async def status(self, description: str, done: bool = False, error: bool = False) -> None:
        state = "error" if error else ("complete" if done else "in_progress")
        await self.emit("status", {"status": state, "description": description, "done": done})


class CodeRun:
    """One run as Open WebUI shows it: status events around it and the
    code_execution citation (the code, then its output and files, sent
    again under the same id)."""

    def __init__(self, name: str, language: str, code: str, emitter: EventEmitter, debug: bool) -> None:
        self.language = language
        self.code = code
        self.events = Events(emitter, debug)
        self._name = name
        self._id = str(uuid.uuid4())
        self._result: dict[str, typing.Any] = {}

    def _citation(self) -> dict[str, typing.Any]:
        data: dict[str, typing.Any] = {
            "type": "code_execution",
            "id": self._id,
            "uuid": self._id,
            "name": self._name,
            "language": self.language,
            "code": self.code,
        }
        if self._result:
            data["result"] = dict(self._result)
        return data

    async def execute(
        self,
        configured: Valves,
        user: dict[str, typing.Any] | None,
        chat: str = "",
        attachments: list[AttachmentSource] | None = None,
        request: typing.Any = None,
        metadata: dict[str, typing.Any] | None = None,
    ) -> RunOutcome:
        """Applies the overrides to the `configured` valves and runs the code
        in the caller's storage (and session, if the valves and the caller
        have one) with the `attachments` in its home directory; inside Open
        WebUI (its `request` and `metadata`) the files and images then go
        into its Files store (publish). Never raises."""
        title = self.language.title()
        try:
            valves = effective_valves(configured)
            self.events.debug = valves.DEBUG
            root = storage_dir(valves)
            os.makedirs(root, mode=0o755, exist_ok=True)
            caller = user_id(user)
            files, notes = await read_attachments(attachments or [], valves, caller)
            await self.events.status(f"Running {title} code in a gVisor sandbox...")
            await self.events.emit("citation", self._citation())
            key = session_key(valves, caller, chat)
            if valves.SESSION_MODE == "off":
                # Sessions left running by an earlier SESSION_MODE end now.
                await asyncio.to_thread(stop_sessions, valves)
            # DEBUG details describe the host: admins only.
            show = is_admin(user)
            if key is None:
                outcome = await sandbox_run(
                    self.language, self.code, valves, caller, root, files, show_debug=show
                )
            else:
                outcome = await session_run(
                    self.language, self.code, valves, key, root, files, show_debug=show
                )
            outcome = outcome._replace(notes=outcome.notes + tuple(notes))
            try:
                store = await OpenWebUIStore.of(request, user, metadata)
            except Exception as e:  # inside Open WebUI, yet its store failed: link nothing
                unlinked = [{**f, "url": None} for f in outcome.files]
                note = f"Open WebUI's file store failed ({e}): files are not linked."
                return outcome._replace(files=unlinked, notes=(*outcome.notes, note))
            return await self.publish(outcome, store)
        except ValveError as e:
            return RunOutcome("SANDBOX_ERROR", "", False, f"Misconfigured valve: {e}", [], [])
        except Exception as e:
            message = failure_message("SANDBOX_ERROR", libsandbox.Reason.NONE, configured, self.language)
            if configured.DEBUG and is_admin(user):
                message += f" [DEBUG] {e!r}"
            return RunOutcome("SANDBOX_ERROR", "", False, message, [], [])

    async def publish(self, outcome: RunOutcome, store: OpenWebUIStore | None) -> RunOutcome:
        """Inside Open WebUI, moves the run's files and images into its Files
        store as the caller's own (their links then work for that user and
        admins only); never raises. Outside it, the outcome stays as it is."""
        if store is None or not (outcome.files or outcome.outputs):
            return outcome
        files, images, notes = [], [], list(outcome.notes)
        for f, host_path in zip(outcome.files, outcome.host_files, strict=True):
            try:
                data = await asyncio.to_thread(pathlib.Path(host_path).read_bytes)
                files.append({**f, "url": await store.put(f["path"], data)})
            except Exception as e:
                files.append({**f, "url": None})
                notes.append(f"{f['path']} could not be stored in Open WebUI: {e}")
        stored = {f["path"]: f["url"] for f in files if f["url"]}
        for output in outcome.outputs:
            if output.name in stored:  # an image the code saved: already stored
                images.append(stored[output.name])
                continue
            try:
                images.append(await store.put(output.name, output.data, output.mime_type))
            except Exception as e:
                notes.append(f"{output.name} could not be stored in Open WebUI: {e}")
        return outcome._replace(files=files, images=tuple(images), notes=tuple(notes))

    async def finish(self, outcome: RunOutcome, chat_message: str = "") -> None:
        """Completes the citation, posts `chat_message` (if any) into the
        chat, shows the run's images in it and sends the final status."""
        self._result["output"] = outcome.output
        if outcome.message:
            self._result["error"] = outcome.message
        self._result["files"] = [{"name": f["path"], "url": f["url"]} for f in outcome.files if f["url"]]
        await self.events.emit("citation", self._citation())
        if chat_message:
            await self.events.emit("message", {"content": chat_message})
        if outcome.images:
            files = [{"type": "image", "url": url} for url in outcome.images]
            await self.events.emit("files", {"files": files})
        if outcome.status == "OK":
            await self.events.status(f"{self.language.title()} code ran successfully.", done=True)
        else:
            await self.events.status(outcome.message, done=True, error=True)


def reply_fields(outcome: RunOutcome) -> dict[str, typing.Any]:
    """The parts of the JSON reply both files give beyond status and output."""
    fields: dict[str, typing.Any] = {}
    if outcome.truncated:
        fields["output_truncated"] = True
    if outcome.message:
        fields["message"] = outcome.message
    if outcome.files:
        fields["files"] = outcome.files
    if outcome.notes:
        fields["notes"] = list(outcome.notes)
    if outcome.session:
        fields["session"] = outcome.session
    if outcome.outputs:
        # Shown to the user in the chat already (inside Open WebUI).
        fields["figures"] = [o.name for o in outcome.outputs]
    return fields
