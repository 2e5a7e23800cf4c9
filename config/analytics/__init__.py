"""The numbers behind the seeds' questions, as charts over a date range (docs/decisions/0035-analytics-charts.md).

One selector module per question — ``activations`` (applications by outcome and reason,
identity-provider outages), ``restoration`` (the limit after repayment: at once, held,
alerts), ``roll_rates`` (accounts rolling between delinquency buckets, month by month),
``complaint_volume`` (complaints by category, deadline breaches) and ``closures`` (closures by
reason, alternatives accepted) — each a bounded, indexed read over a ``period.Period``;
``svg`` draws them server-side (no JavaScript, nothing from a CDN); ``views`` is the back
office page. It spans every app, so it lives in the composition root."""
