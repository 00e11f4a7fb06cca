"""The IVR: a FastAGI server (``ivr.server``) running call flows written as data
(``ivr.flows``, ``callflows/*.yaml``) with the prompts of the catalogue (``ivr.prompts``);
``ivr.interpreter`` runs a flow on one call, ``ivr.classic`` does the same as a classic AGI
process through pyst2. See docs/ivr.md and docs/design.md."""
