"""The capture reader sees every stream and message of the real Asterisk transcripts."""

from __future__ import annotations

from hotline.devtools.captures import all_captures, load


def test_all_fourteen_captures_parse_with_their_streams() -> None:
    caps = all_captures()
    assert len(caps) == 14
    for cap in caps:
        assert "ami-mon" in cap.streams, cap.name
        assert cap.streams["ami-mon"].ami("<<")[0].kind == "Banner"


def test_bad_login_stream_is_read_message_by_message() -> None:
    stream = load("01").streams["ami-1"]
    assert [(m.direction, m.kind, m.name) for m in stream.ami()] == [
        ("<<", "Banner", "Asterisk Call Manager/11.0.0"),
        (">>", "Action", "Ping"),
        ("<<", "Response", "Error"),
        (">>", "Action", "Login"),
        ("<<", "Response", "Error"),
    ]
    reply = stream.ami("<<")[-1]
    assert reply.get("Message") == "Authentication failed"
    assert reply.t - stream.ami(">>")[-1].t >= 1.0  # the 1 s delay before a failed login


def test_agi_stream_keeps_environment_and_commands() -> None:
    agi = load("03").streams["agi-1"]
    texts = [line.text for line in agi.items]
    assert "agi_network_script: hotline" in texts
    blank = texts.index("")
    assert texts[blank + 1] == "SET VARIABLE HOTLINE_CALL_ID hl-03-1795390124.68"
    assert texts[-1] == "HANGUP"


def test_empty_values_keep_their_key() -> None:
    ev = next(e for e in load("14").streams["ami-mon"].events() if e.name == "Newchannel")
    assert ev.get("AccountCode") == ""
    assert "AccountCode" in ev.keys()
