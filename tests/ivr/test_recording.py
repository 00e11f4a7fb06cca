"""Where the IVR's recordings land: spool files named for their call
(``<pbx>-<linkedid>-<uniqueid>.wav``, hotline.domain.spool), so the recordings service knows
whose they are even after a restart, and one file per channel."""

from __future__ import annotations

import textwrap
from pathlib import Path

from hotline.domain.spool import parse_spool_file_name
from ivr.prompts.catalogue import Catalogue
from tests.ivr.asterisk import ScriptedAsterisk
from tests.ivr.conftest import StartIvr, flows_from_yaml
from tests.ivr.fakes import FakeRouter, Seat


def _mixmonitor_paths(lines: list[str]) -> list[str]:
    return [line.split(" ", 2)[2] for line in lines if line.startswith("EXEC MixMonitor")]


async def test_bridged_recording_is_named_for_its_call(start_ivr: StartIvr) -> None:
    server = await start_ivr(router=FakeRouter([Seat(1, "1001")]))
    call = await ScriptedAsterisk(server.port, digits=["1"], dials=["ANSWER"]).run()
    [args] = _mixmonitor_paths(call.lines())
    path, options = args.rsplit(",", 1)
    assert options == "b"
    parsed = parse_spool_file_name(Path(path).name)
    assert parsed is not None and parsed.call_key == "pbx1:1795390124.68"


async def test_whole_call_recording_after_a_bridged_one_stops_it_and_records_the_rest(
    start_ivr: StartIvr, tmp_path: Path, catalogue: Catalogue
) -> None:
    flows = flows_from_yaml(tmp_path, catalogue, textwrap.dedent("""
        name: t
        routes: [inbound]
        start: ring
        nodes:
          ring: {kind: answer, next: greet}
          greet: {kind: play, prompt: greeting, next: agents}
          agents: {kind: route, max_wait: 0.3, apology_every: 10, on_timeout: keep}
          keep: {kind: record, next: bye}
          bye: {kind: hangup, prompt: closing}
    """))
    server = await start_ivr(router=FakeRouter([Seat(1, "1001")]), flows=flows)
    # the agent's phone rings out; the caller waits, gives up on hold and is recorded
    call = await ScriptedAsterisk(server.port, dials=["NOANSWER"]).run()
    lines = call.lines()
    bridged, whole = _mixmonitor_paths(lines)
    assert bridged.endswith(",b")
    # the bridged-only recording stops, and the rest of the call goes to the call's whole-call
    # file, which the recordings service files under the same call
    assert lines.index("EXEC StopMixMonitor") < lines.index(f"EXEC MixMonitor {whole}")
    first = parse_spool_file_name(Path(bridged.removesuffix(",b")).name)
    rest = parse_spool_file_name(Path(whole).name)
    assert first is not None and rest is not None
    assert rest.call_key == first.call_key and rest.whole_call and not first.whole_call
