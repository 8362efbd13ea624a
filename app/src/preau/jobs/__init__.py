"""The one background job mechanism (issue #22 item 3): a queue in PostgreSQL, run by
procrastinate's workers (one `preau-worker` service per app host). See app/README.md,
"Background jobs". `queue` is the API (enqueue, a job's status, the queue's status, the worker),
`tasks` the jobs themselves."""
