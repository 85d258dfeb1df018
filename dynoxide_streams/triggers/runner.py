"""The trigger service: event source mappings, their pollers and their control plane.

:class:`TriggerRunner` owns one task group (run inside the service's) holding a task
per mapping; each task runs :func:`~dynoxide_streams.triggers.poller.run_mapping`
while the mapping is enabled. Create/Update/Delete change the stored configuration
first and then restart (cancel and start again) the mapping's task, so a mapping
never runs with settings that are not durable. Declared triggers (``--triggers``
file, ``Server.add_trigger``) name a table; they are bound to the table's current
stream — created as mappings — as soon as it has one, and again after the table is
re-created.
"""

from __future__ import annotations

import re
import uuid as uuids
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from dynoxide_streams.clock import Clock
from dynoxide_streams.engine import messages
from dynoxide_streams.engine.changes import BEFORE_ALL, ChangeSource
from dynoxide_streams.engine.trigger_store import TriggerStore
from dynoxide_streams.errors import (
    DiskFull,
    InvalidParameterValueException,
    LambdaResourceInUseException,
    LambdaResourceNotFoundException,
    ResourceConflictException,
)
from dynoxide_streams.shards import ids
from dynoxide_streams.triggers import mappings
from dynoxide_streams.triggers.functions import FunctionRegistry, InvokeResult, invoke
from dynoxide_streams.triggers.leases import ShardLeases
from dynoxide_streams.triggers.mappings import FunctionRef, Mapping

if TYPE_CHECKING:
    from dynoxide_streams.triggers.lane import Failure

    # the poller (and the lanes, dead letters and retry rules under it) is imported
    # when the first mapping starts: a server with no triggers never loads it
    from dynoxide_streams.triggers.poller import MappingRun

log = structlog.get_logger("dynoxide_streams.triggers")

NOT_FOUND = messages.LAMBDA_NOT_FOUND.template
LIST_PAGE = 100
RESTART_DELAY_SECONDS = 1.0


def _disk_full_only(exc: Exception) -> bool:
    """Whether ``exc`` is DiskFull, or a group of nothing else (from the pollers' tasks)."""
    if isinstance(exc, ExceptionGroup):
        return exc.split(DiskFull)[1] is None
    return isinstance(exc, DiskFull)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Declaration:
    """A declared trigger: a table name (bound to its current stream) or AWS
    parameters with an EventSourceArn."""

    table: str | None
    params: dict[str, Any]
    bound: set[str] = field(default_factory=set)  # stream ARNs already mapped


@dataclass(eq=False)
class TriggerRunner:
    """Event source mappings of one server (see the module docstring)."""

    source: ChangeSource
    store: TriggerStore
    registry: FunctionRegistry
    clock: Clock
    _: KW_ONLY
    region: str
    account_id: str
    leases: ShardLeases | None = None  # shard leases shared with other processes
    mappings: dict[str, Mapping] = field(init=False, default_factory=dict)
    _runs: dict[str, MappingRun] = field(init=False, default_factory=dict)
    _scopes: dict[str, anyio.CancelScope] = field(init=False, default_factory=dict)
    _tg: TaskGroup | None = field(init=False, default=None)
    _declarations: list[Declaration] = field(init=False, default_factory=list)
    _declared: anyio.Event = field(init=False, default_factory=anyio.Event)
    _lock: anyio.Lock = field(init=False, default_factory=anyio.Lock)

    # --------------------------------------------------------------- lifecycle

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Load the stored mappings, start their pollers, bind declarations; run
        until cancelled."""
        for data in self.store.load_mappings():
            mapping = Mapping.from_json(data)
            self.mappings[mapping.uuid] = mapping
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for mapping in self.mappings.values():
                self._start(mapping)
            tg.start_soon(self._bind_loop)
            task_status.started()
            await anyio.sleep_forever()

    def _start(self, mapping: Mapping) -> None:
        assert self._tg is not None
        scope = anyio.CancelScope()
        self._scopes[mapping.uuid] = scope
        self._tg.start_soon(self._supervise, mapping, scope)

    def _stop(self, uuid: str) -> None:
        scope = self._scopes.pop(uuid, None)
        if scope is not None:
            scope.cancel()

    async def _supervise(self, mapping: Mapping, scope: anyio.CancelScope) -> None:
        with scope:
            settled = "Enabled" if mapping.enabled else "Disabled"
            if mapping.state != settled:
                mapping.state = settled
                await self.store.put_mapping(mapping.uuid, mapping.to_json())
            if not mapping.enabled:
                return
            from dynoxide_streams.triggers.poller import MappingRun, run_mapping

            function_arn = mapping.function_arn
            name = mappings.parse_function_name(mapping.function_name)
            assert name is not None

            async def call(event: dict[str, Any]) -> InvokeResult:
                function = self.registry.get(name.name)
                if function is None:
                    return InvokeResult(
                        error="Unhandled",
                        error_type="ResourceNotFoundException",
                        message=messages.LAMBDA_FUNCTION_NOT_FOUND.format(arn=function_arn),
                    )
                return await invoke(function, event, function_arn)

            async def on_result(ok: bool, failure: Failure | None) -> None:
                """The mapping shows each result at once; it is written to the store
                when it turns from OK to a problem or back, or a failure streak starts,
                not at every failed invocation of a streak (a Writer transaction each)."""
                previous = mapping.last_result
                result = processing_result(ok, failure, previous)
                if result == previous:
                    return
                mapping.last_result = result
                problem = messages.LAMBDA_CALL_FAILED.template
                turned = result.startswith(problem) != previous.startswith(problem)
                if turned or (failure is not None and failure.streak == 1):
                    await self.store.put_mapping(mapping.uuid, mapping.to_json())

            while True:  # an internal failure restarts the pollers from their checkpoints
                run = MappingRun.create(
                    mapping, self.source, self.store, self.clock, call, on_result, self.leases
                )
                self._runs[mapping.uuid] = run
                try:
                    await run_mapping(run)
                except Exception as exc:
                    if _disk_full_only(exc):  # the Writer logs the episode, once
                        log.debug("mapping pollers stopped: disk full", uuid=mapping.uuid)
                    else:
                        log.exception("mapping pollers failed; restarting", uuid=mapping.uuid)
                finally:
                    if self._runs.get(mapping.uuid) is run:
                        del self._runs[mapping.uuid]
                await anyio.sleep(RESTART_DELAY_SECONDS)

    # ------------------------------------------------------------ control plane

    def _function_arn(self, ref: FunctionRef) -> str:
        return registered_function_arn(ref, self.registry, self.region, self.account_id)

    async def create(self, params: dict[str, Any]) -> dict[str, Any]:
        """CreateEventSourceMapping: validate, store, start; the new configuration."""
        ref = mappings.check_create(params, listed=await self._listed(params))
        async with self._lock:
            arn = params["EventSourceArn"]
            function_arn = self._function_arn(ref)
            if await self.source.stream(arn) is None:
                raise InvalidParameterValueException(
                    messages.STREAM_NOT_FOUND_SHORT.format(arn=arn)
                )
            self._check_conflict(arn, ref)
            if params["StartingPosition"] == "LATEST":
                start_after = await self.source.start_position(arn, "LATEST") or BEFORE_ALL
            else:
                start_after = BEFORE_ALL
            mapping = mappings.new_mapping(
                params,
                uuid=str(uuids.uuid4()),
                function_arn=function_arn,
                start_after=start_after,
                now=self.clock.now(),
                region=self.region,
                account_id=self.account_id,
            )
            mapping.state = "Creating"
            await self.store.put_mapping(mapping.uuid, mapping.to_json())
            self.mappings[mapping.uuid] = mapping
            described = mapping.describe()
            self._start(mapping)
        return described

    async def _listed(self, params: dict[str, Any]) -> bool:
        """Whether the request's EventSourceArn, not of the form AWS's are, is a stream
        the change source lists (or a mapping's already): accepted as it is."""
        arn = params.get("EventSourceArn")
        if not isinstance(arn, str) or mappings.well_formed_source(arn):
            return False
        return self.uses_source(arn) or await self.source.stream(arn) is not None

    def uses_source(self, arn: str) -> bool:
        """Whether a mapping has ``arn`` as its event source."""
        return any(m.event_source_arn == arn for m in self.mappings.values())

    def _check_conflict(self, arn: str, ref: FunctionRef, exclude: str | None = None) -> None:
        """Refuse a second mapping of one function (any qualifier) on one stream."""
        for other in self.mappings.values():
            other_ref = mappings.parse_function_name(other.function_name)
            if (
                other.uuid != exclude
                and other.event_source_arn == arn
                and other_ref is not None
                and other_ref.name == ref.name
            ):
                raise ResourceConflictException(
                    messages.LAMBDA_MAPPING_EXISTS.format(
                        arn=arn, function=ref.name, uuid=other.uuid
                    )
                )

    def _get(self, uuid: str) -> Mapping:
        mapping = self.mappings.get(uuid)
        if mapping is None:
            raise LambdaResourceNotFoundException(NOT_FOUND)
        return mapping

    def get(self, uuid: str) -> dict[str, Any]:
        return self._get(uuid).describe()

    async def update(self, uuid: str, params: dict[str, Any]) -> dict[str, Any]:
        """UpdateEventSourceMapping: apply the given settings and restart the pollers."""
        ref = mappings.check_update(params, listed=await self._listed(params))
        async with self._lock:
            mapping = self._get(uuid)
            if mapping.state == "Deleting":
                raise LambdaResourceInUseException(messages.LAMBDA_MAPPING_DELETING.template)
            function_arn = mapping.function_arn if ref is None else self._function_arn(ref)
            if ref is not None:
                self._check_conflict(mapping.event_source_arn, ref, exclude=uuid)
            self._stop(uuid)
            lanes_before = mapping.parallelization_factor
            updated = Mapping.from_json(mapping.to_json())
            mappings.apply_params(updated, params)
            if ref is not None:
                updated.function_name = params["FunctionName"]
                updated.function_arn = function_arn
            updated.last_modified = self.clock.now()
            updated.state = "Updating"
            if updated.parallelization_factor != lanes_before:
                from dynoxide_streams.triggers.poller import relane

                await self.store.replace_checkpoints(
                    uuid,
                    relane(
                        self.store.checkpoints(uuid),
                        lanes_before,
                        updated.parallelization_factor,
                        mapping.start_after,
                    ),
                )
            await self.store.put_mapping(uuid, updated.to_json())
            self.mappings[uuid] = updated
            described = updated.describe()
            self._start(updated)
        return described

    async def delete(self, uuid: str) -> dict[str, Any]:
        """DeleteEventSourceMapping: stop the pollers and forget the mapping."""
        async with self._lock:
            mapping = self._get(uuid)
            self._stop(uuid)
            mapping.state = "Deleting"
            described = mapping.describe()
            await self.store.delete_mapping(uuid)
            del self.mappings[uuid]
        return described

    def list_mappings(
        self,
        *,
        event_source_arn: str | None,
        function_name: str | None,
        marker: str | None,
        max_items: int | None,
    ) -> dict[str, Any]:
        """ListEventSourceMappings with its filters and Marker paging."""
        wanted_function: str | None = None
        if function_name is not None:
            ref = mappings.parse_function_name(function_name)
            if ref is None:
                raise InvalidParameterValueException(
                    messages.LAMBDA_INVALID_FUNCTION.format(name=function_name)
                )
            wanted_function = ref.name
        found = []
        for mapping in sorted(self.mappings.values(), key=lambda m: m.uuid):
            if event_source_arn is not None and mapping.event_source_arn != event_source_arn:
                continue
            if wanted_function is not None:
                own = mappings.parse_function_name(mapping.function_name)
                if own is None or own.name != wanted_function:
                    continue
            if marker and mapping.uuid <= marker:
                continue  # the marker is the last UUID returned: deletes cannot shift pages
            found.append(mapping)
        if marker and not _UUID.fullmatch(marker):
            raise InvalidParameterValueException(messages.LAMBDA_INVALID_MARKER.template)
        page = min(max_items or LIST_PAGE, LIST_PAGE)
        chunk = found[:page]
        out: dict[str, Any] = {"EventSourceMappings": [m.describe() for m in chunk]}
        if len(found) > page:
            out["NextMarker"] = chunk[-1].uuid
        return out

    def lag(self) -> list[tuple[tuple[tuple[str, str], ...], float]]:
        """Per running mapping: records of its stream after its slowest lane's
        checkpoint (filtered records and other lanes' records included)."""
        samples: list[tuple[tuple[tuple[str, str], ...], float]] = []
        for uuid, run in list(self._runs.items()):
            mapping = run.mapping
            newest = ids.parse_sequence_number(
                self.source.newest_known(mapping.event_source_arn) or BEFORE_ALL
            )
            behind = [ids.parse_sequence_number(p) for p in run.positions.values()]
            counters = [-1 if b is None else b for b in behind]
            lag = 0 if newest is None or not counters else max(0, newest - min(counters))
            labels = (("function", mapping.function_name), ("uuid", uuid))
            samples.append((labels, float(lag)))
        return samples

    # ------------------------------------------------------------ declarations

    def declare(self, table: str | None, params: dict[str, Any]) -> Declaration:
        """Declare a trigger on ``table`` (bound once the table has a stream) or, with
        ``table=None``, on the stream ``params["EventSourceArn"]``.

        ``params`` are CreateEventSourceMapping parameters; StartingPosition defaults
        to TRIM_HORIZON. Raises the API's validation errors.
        """
        params = check_declaration(table, params, self.registry, self.region, self.account_id)
        declaration = Declaration(table, params)
        self._declarations.append(declaration)
        self._declared.set()
        return declaration

    async def _bind_loop(self) -> None:
        """Bind declarations when one is added or the set of streams changes."""
        mark = self.source.high_water
        seen: tuple[int, int] | None = None
        while True:
            current = (self.source.streams_generation, len(self._declarations))
            if current != seen:
                seen = current
                await self.bind_declarations()
            self._declared = anyio.Event()
            if (self.source.streams_generation, len(self._declarations)) != seen:
                continue
            with anyio.move_on_after(5.0):
                async with anyio.create_task_group() as tg:

                    async def declared() -> None:
                        await self._declared.wait()
                        tg.cancel_scope.cancel()

                    async def committed() -> None:
                        nonlocal mark
                        mark = await self.source.wait_for_records(mark, 5.0)
                        tg.cancel_scope.cancel()

                    tg.start_soon(declared)
                    if self._declarations:
                        tg.start_soon(committed)

    async def bind_declarations(self) -> list[dict[str, Any]]:
        """Create mappings for declarations whose table has a new stream."""
        created = []
        for declaration in self._declarations:
            if declaration.table is None:
                arn = declaration.params["EventSourceArn"]
                if await self.source.stream(arn) is None:
                    continue
            else:
                streams = [
                    s
                    for s in await self.source.list_streams(declaration.table)
                    if s.status == "ENABLED" and s.table_exists
                ]
                if not streams:
                    continue
                arn = streams[-1].stream_arn
            if arn in declaration.bound:
                continue
            declaration.bound.add(arn)
            ref = mappings.parse_function_name(declaration.params["FunctionName"])
            assert ref is not None
            if any(
                m.event_source_arn == arn
                and (mappings.parse_function_name(m.function_name) or ref).name == ref.name
                for m in self.mappings.values()
            ):
                continue  # already mapped (e.g. stored before a restart)
            try:
                created.append(await self.create({**declaration.params, "EventSourceArn": arn}))
            except Exception:
                log.exception("declared trigger could not be bound", table=declaration.table)
        return created


ERROR_TEXT_LIMIT = 256
"""Characters of a failure's ``TYPE: message`` kept in LastProcessingResult."""


def processing_result(ok: bool, failure: Failure | None, previous: str) -> str:
    """A mapping's LastProcessingResult after a batch: ``OK``, or AWS's ``PROBLEM:
    Function call failed`` followed by `` (TYPE: message)`` of the failed invocation
    (at most 256 characters of it; a batch discarded before its invocation keeps the
    previous problem's text)."""
    if ok:
        return "OK"
    problem = messages.LAMBDA_CALL_FAILED.template
    if failure is None:
        return previous if previous.startswith(problem) else problem
    text = failure.text
    if len(text) > ERROR_TEXT_LIMIT:
        text = text[: ERROR_TEXT_LIMIT - 1] + "…"
    return f"{problem} ({text})" if text else problem


def check_declaration(
    table: str | None,
    params: dict[str, Any],
    registry: FunctionRegistry,
    region: str,
    account_id: str,
) -> dict[str, Any]:
    """Validate a declared trigger as CreateEventSourceMapping would; return its
    parameters with StartingPosition defaulted to TRIM_HORIZON."""
    params = {"StartingPosition": "TRIM_HORIZON", **params}
    probe = dict(params)
    if table is not None:
        probe["EventSourceArn"] = f"arn:aws:dynamodb:{region}:{account_id}:table/{table}/stream/x"
    registered_function_arn(mappings.check_create(probe), registry, region, account_id)
    return params


def registered_function_arn(
    ref: mappings.FunctionRef, registry: FunctionRegistry, region: str, account_id: str
) -> str:
    """The function ARN of ``ref``; ResourceNotFoundException unless it is registered."""
    if registry.get(ref.name) is None:
        raise LambdaResourceNotFoundException(
            messages.LAMBDA_FUNCTION_NOT_FOUND.format(
                arn=mappings.FunctionRef(ref.name, None).arn(region, account_id)
            )
        )
    return ref.arn(region, account_id)
