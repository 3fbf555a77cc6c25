"""The template's model, one module per job. Where an answer acts, start here:

- answers.py      the required answers and the labels copier.yml shows for each choice
- validators.py   one validator per free-text question (copier.yml calls `check`)
- naming.py       casings of names; slugify
- features.py     what the answers switch on (`artifacts`): one property per rule
- layout.py       every path of the generated repository
- contexts.py     bounded contexts as modules, and the services that deploy them
- backing.py      database, Redis and broker: driver, image, port, URLs, readiness, egress
- contract.py     the app's environment variables, npm dependencies and scripts
- delivery.py     images, build argument, Kubernetes and compose settings
- objectives.py   SLOs, metric buckets, alert thresholds, RPO and RTO (data/recovery.yml)
- resilience.py   timeouts, retries and failure scenarios per dependency (data/resilience.yml)
- quality.py      quality goals, scenarios and tactics (data/quality.yml)
- adrs.py         the ADR catalogue (data/adrs.yml) and its numbering
- registers.py    the appendices' open questions and risks (data/registers.yml) the answers call for
- compliance.py   section 7.9's compliance checklists and section 8.1's copies of record data (data/compliance.yml)
- text.py, typescript.py   escaping free text; printing TypeScript as Prettier does
- filters.py      Jinja filters and globals
- model.py        the Model, built once from complete answers
- compile.py      one Jinja compile per source and process

extensions/context.py is the one file copier.yml names; it loads this package by path.
"""
