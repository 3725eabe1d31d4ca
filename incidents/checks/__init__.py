"""Checks: monitors that watch by themselves.

- ``addresses``: where a check may connect (the address policy);
- ``definition``: the ``check`` object's settings, rules and messages;
- ``models``: a monitor's check, its results and their hourly aggregates;
- ``running``: one HTTP (httpx) or TCP check run;
- ``results``: confirmation, heartbeats, and keeping results bounded;
- ``scheduler``: claiming due checks and running them in the worker;
- ``pings``: ``/ping/<token>``, answered before sessions and CSRF.
"""
