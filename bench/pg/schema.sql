-- The PostgreSQL baseline: what an ordinary RDBMS-backed approval system keeps per instance and
-- per step. Loaded by tools/bench.sh into a throwaway cluster.
CREATE TABLE instances (
  id           bigint PRIMARY KEY,
  workflow     text        NOT NULL,
  state        text        NOT NULL,
  org          text        NOT NULL,
  assignee_org text,
  version      integer     NOT NULL,
  fields       jsonb       NOT NULL,
  updated_at   timestamptz NOT NULL
);
CREATE INDEX instances_list ON instances (workflow, state, org);
CREATE TABLE events (
  seq         bigserial PRIMARY KEY,
  instance_id bigint      NOT NULL,
  type        text        NOT NULL,
  transition  text,
  from_state  text,
  to_state    text,
  actor       text        NOT NULL,
  at          timestamptz NOT NULL,
  changes     jsonb,
  comment     text
);
CREATE INDEX events_instance ON events (instance_id, seq);
INSERT INTO instances
SELECT g, 'yizhi-yixiang', 'in_progress', 'city/finance', 'city/finance/b1', 1,
       jsonb_build_object('title', '先锋项目 ' || g, 'goal', '推动党建与业务深度融合，服务群众，提升效能。',
                          'area', 'service', 'due_date', '2027-03-31', 'branch', 'city/finance/b1'),
       now()
FROM generate_series(1, 10000) AS g;
VACUUM ANALYZE;
