"""A sandbox gateway that takes its time, so a test can kill a worker in the middle of a day."""

import time

from installments.gateway import SandboxGateway


class SlowSandboxGateway(SandboxGateway):
    def charge(self, **kwargs):
        time.sleep(0.25)
        return super().charge(**kwargs)

    def charge_many(self, charges):
        answers = {}
        for charge in charges:  # one at a time, slowly: a kill lands in the middle of a batch
            time.sleep(0.25)
            answers.update(super().charge_many([charge]))
        return answers
