"""A sandbox gateway that takes its time, so a test can kill a worker in the middle of a day."""

import time

from installments.gateway import SandboxGateway


class SlowSandboxGateway(SandboxGateway):
    def charge(self, **kwargs):
        time.sleep(0.25)
        return super().charge(**kwargs)
