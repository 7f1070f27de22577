-- One workflow transition as one transaction: lock the row, update it with a version check,
-- append the event. Run by pgbench -M prepared with synchronous_commit=on.
\set id random(1, 10000)
BEGIN;
SELECT version AS v FROM instances WHERE id = :id FOR UPDATE \gset
UPDATE instances
   SET state = CASE WHEN state = 'in_progress' THEN 'completion_review' ELSE 'in_progress' END,
       version = version + 1,
       fields = fields || '{"progress": "本阶段工作已完成，正在推进下一阶段。", "percent": 60}'::jsonb,
       updated_at = now()
 WHERE id = :id AND version = :v;
INSERT INTO events (instance_id, type, transition, from_state, to_state, actor, at, changes, comment)
VALUES (:id, 'transitioned', 'report_progress', 'in_progress', 'in_progress', 'zhang.min', now(),
        '{"progress": "本阶段工作已完成，正在推进下一阶段。", "percent": 60}'::jsonb, NULL);
END;
