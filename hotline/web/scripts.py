"""The scripted phrases S1-S16 an agent says at each moment of a call (service-rules.md §2,
from 002_37f618746fd23149.txt lines 76-89), Mandarin first with English beside.

Interim: the IVR branch is creating the prompt catalogue ``callflows/prompts.yaml``; once it
lands, the desk should read the phrases from there so agents and the IVR say the same words.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Script:
    id: str
    moment: str
    moment_zh: str
    zh: tuple[str, ...]
    en: tuple[str, ...]
    source: str


SCRIPTS: tuple[Script, ...] = (
    Script("S1", "greeting", "接通问候(必须严格执行)", ("您好!请问有什么可以帮到您?",),
           ("Hello! How may I help you?",), "002:76"),
    Script("S2", "silent line", "无应答", (
        "对不起,我听不到你的声音,你换一部电话再打过来,好吗?我现在挂机了。",),
        ("Sorry, I can't hear you. Could you call again from another phone? "
         "I'm going to hang up now.",), "002:77"),
    Script("S4", "hold", "请客户稍等", ("对不起,请稍等。", "对不起,您能让我先帮您查一下嘛?"),
           ("Sorry, please wait a moment.", "Sorry, could you let me check that for you first?"),
           "002:83"),
    Script("S3", "back from hold", "查询后回到线路", ("很抱歉让您久等了。",),
           ("Sorry to have kept you waiting.",), "002:78"),
    Script("S7", "clarify", "明确问题", ("为了尽快为您解决这个问题,我可以向您提几个小问题吗?",),
           ("To solve this for you as quickly as possible, may I ask you a few quick "
            "questions?",), "002:83"),
    Script("S11", "did not catch", "没听清几个字", ("对不起,请问您的意思是……吗?", "您是说……,对吗?"),
           ("Sorry, do you mean …?", "You said …, is that right?"), "002:84"),
    Script("S12", "did not hear", "完全没听清", ("对不起,我没听清您的讲话,请您重复一遍,好吗?谢谢!",),
           ("Sorry, I didn't catch what you said. Could you repeat it, please? Thank you!",),
           "002:85"),
    Script("S8", "apology", "客户抱怨时致歉", ("对不起,给您造成不便,敬请原谅。",),
           ("We're sorry for the inconvenience caused; please accept our apologies.",),
           "002:83"),
    Script("S9", "caller curses", "客户破口大骂时", (
        "对不起,我非常理解您的心情,但是为了帮您解决问题,请您慢慢说好吗?我会尽全力帮您解决的。",),
        ("I'm sorry, I fully understand how you feel, but so that I can solve the problem for "
         "you, could you please speak slowly? I'll do my very best to solve it for you.",),
        "002:83"),
    Script("S5", "caller apologises", "客户为失礼道歉", ("没关系!还有什么需要我帮助吗?",),
           ("That's all right! Is there anything else I can help you with?",), "002:80"),
    Script("S10", "suggestion", "客户提建议", ("您的建议很重要,我会及时转递给相关部门,谢谢您的支持!",),
           ("Your suggestion is important. I'll pass it on to the relevant department "
            "promptly. Thank you for your support!",), "002:83"),
    Script("S6", "privacy refusal", "拒绝查询他人信息",
           ("对不起,我们必须保护用户的利益,不能泄漏客户的个人信息。",),
           ("Sorry, we must protect our users' interests and cannot disclose customers' "
            "personal information.",), "002:81"),
    Script("S15", "warning", "无聊(粗俗)电话警告",
           ("对不起,先生/小姐,请您使用文明用语,否则很抱歉,我们将结束这次通话。",),
           ("Sorry, sir/madam, please use civil language; otherwise, we regret that we will "
            "end this call.",), "002:89"),
    Script("S13", "wrap-up", "业务基本完成", ("请问还有什么需要查询吗?",),
           ("Is there anything else you'd like to check?",), "002:87"),
    Script("S14", "idle chatter", "受理完业务被纠缠", (
        "对不起,请问您还有其它业务需要帮助吗?如没有,请挂机,把线路让给其它的客户,好吗?",),
        ("Sorry, do you need help with anything else? If not, please hang up so the line is "
         "free for other customers, OK?",), "002:88"),
    Script("S16", "closing", "结束通话", ("谢谢您的电话,再见!",),
           ("Thank you for your call. Goodbye!",), "002:89"),
)
