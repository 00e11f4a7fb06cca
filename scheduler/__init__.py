"""Outbound calls: rules that create tasks, calling windows, planning, the exactly-once
dialler, pacing, leader election and the APScheduler wiring.

Module map (each has one job):

- ``windows``: when a task type may be dialled (business hours, rest period, working days).
- ``tasks``: creating tasks idempotently (dedupe keys), shared by every rule and the bridge.
- ``rules/``: one module per rule of service-rules.md §5/§6; ``rules.RULES`` lists them.
- ``planner``: which pending tasks fall into the next calling window, in what order.
- ``pacing``: at most N calls at once and M new calls per second.
- ``agents``: choosing the agent that makes an agent-first call.
- ``settlement``: what an attempt's outcome does to its task (retries, done, failed).
- ``dialler``: the exactly-once protocol (read its docstring) and crash recovery.
- ``leader``: one dialling scheduler across machines (PostgreSQL advisory lock / lock file).
- ``service``: the running scheduler (APScheduler jobs, dispatch loop, reconciliation).
- ``campaigns``, ``absences``, ``queries``: what agents and supervisors see and do.
"""
