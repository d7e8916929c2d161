"""Domain errors. Each carries a bilingual message the user can read as it is."""

from __future__ import annotations

from grantflow.states.text import Text, join


class GrantflowError(Exception):
    code = "error"

    def __init__(self, message: Text, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message.en)
        self.message = message
        self.details = details or {}

    def text(self, lang: str | None = None) -> str:
        return self.message.get(lang)


class NotFound(GrantflowError):
    code = "not_found"


class InvalidTrigger(GrantflowError):
    """The trigger does not exist in the current state. Names the state and what is allowed."""

    code = "invalid_trigger"

    def __init__(self, *, trigger: str, state: Text, state_name: str, allowed: list[tuple[str, Text]]) -> None:
        allowed_zh = "、".join(f"{t.zh}（{name}）" for name, t in allowed) or "无"
        allowed_en = ", ".join(name if t.en == name else f"{name} ({t.en})" for name, t in allowed) or "none"
        super().__init__(
            Text(
                f"当前状态“{state.zh}”下不能执行“{trigger}”。此状态下可执行：{allowed_zh}",
                f"'{trigger}' is not possible in state '{state_name}' ({state.en}). Allowed from here: {allowed_en}",
            ),
            details={"state": state_name, "trigger": trigger, "allowed": [n for n, _ in allowed]},
        )
        self.trigger = trigger
        self.state = state_name
        self.allowed = [n for n, _ in allowed]


class UnknownTrigger(InvalidTrigger):
    """The trigger is not one of the workflow's at all (a typo): say so and list the valid ones."""

    code = "unknown_trigger"

    def __init__(self, *, trigger: str, workflow: str, known: list[str]) -> None:
        GrantflowError.__init__(
            self,
            Text(
                f"未知的操作“{trigger}”。流程“{workflow}”的操作有：{'、'.join(known)}",
                f"unknown trigger '{trigger}'. The triggers of workflow '{workflow}' are: {', '.join(known)}",
            ),
            details={"trigger": trigger, "workflow": workflow, "known": known},
        )
        self.trigger = trigger
        self.state = ""
        self.allowed = known


class Forbidden(GrantflowError):
    code = "forbidden"

    def __init__(self, reasons: list[Text]) -> None:
        super().__init__(
            _prefixed(Text("无权执行此操作：", "Not allowed: "), reasons),
            details={"reasons": [r.as_dict() for r in reasons]},
        )
        self.reasons = reasons


class GuardFailed(GrantflowError):
    code = "guard_failed"

    def __init__(self, reasons: list[Text]) -> None:
        super().__init__(
            _prefixed(Text("条件不满足：", "Conditions not met: "), reasons),
            details={"reasons": [r.as_dict() for r in reasons]},
        )
        self.reasons = reasons


class PayloadInvalid(GrantflowError):
    code = "payload_invalid"


class Conflict(GrantflowError):
    """Someone else changed the subject after it was read: nothing was written."""

    code = "conflict"

    def __init__(self, *, subject: str, subject_id: int) -> None:
        super().__init__(
            Text(
                "该记录已被他人同时修改，您的操作未生效。请刷新后重试。",
                f"{subject} {subject_id} was changed by someone else at the same time; "
                "nothing was written. Reload and try again.",
            ),
            details={"subject": subject, "subject_id": subject_id},
        )


class WorkflowInvalid(GrantflowError):
    code = "workflow_invalid"

    def __init__(self, workflow: str, problems: list[str]) -> None:
        super().__init__(
            Text(
                f"流程定义“{workflow}”有误：" + "；".join(problems),
                f"workflow '{workflow}' is invalid: " + "; ".join(problems),
            ),
            details={"workflow": workflow, "problems": problems},
        )
        self.problems = problems


class TooManyAttempts(GrantflowError):
    """Too many attempts from one account or address in a window: try again after ``retry_after`` s."""

    code = "too_many_attempts"

    def __init__(self, message: Text, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class UnknownWorkflow(WorkflowInvalid):
    code = "unknown_workflow"

    def __init__(self, workflow: str, known: list[str]) -> None:
        GrantflowError.__init__(
            self,
            Text(
                f"未知的流程“{workflow}”。可用的流程：{'、'.join(known)}",
                f"unknown workflow '{workflow}'. Known workflows: {', '.join(known)}",
            ),
            details={"workflow": workflow, "known": known},
        )
        self.problems = [f"workflow '{workflow}' is not defined"]


def _prefixed(prefix: Text, reasons: list[Text]) -> Text:
    body = join(reasons)
    return Text(prefix.zh + body.zh, prefix.en + body.en)
