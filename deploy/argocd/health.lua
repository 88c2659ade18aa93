-- Argo CD health check for flowlog.dev/FlowLogPolicy, following the kstatus conventions the operator writes:
-- Stalled=True → Degraded; Reconciling=True or a generation not yet observed → Progressing; Ready=True →
-- Healthy; Ready=False otherwise (Audit mode found drift) → Degraded.
local hs = { status = "Progressing", message = "Waiting for flowlog-operator to observe the policy" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if observed == nil or (generation ~= nil and observed < generation) then
  hs.message = "Waiting for flowlog-operator to observe generation " .. tostring(generation)
  return hs
end
local ready, reconciling, stalled
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  elseif condition.type == "Reconciling" then
    reconciling = condition
  elseif condition.type == "Stalled" then
    stalled = condition
  end
end
local function describe(condition)
  return (condition.reason or "") .. ": " .. (condition.message or "")
end
if stalled ~= nil and stalled.status == "True" then
  return { status = "Degraded", message = describe(stalled) }
end
if reconciling ~= nil and reconciling.status == "True" then
  return { status = "Progressing", message = describe(reconciling) }
end
if ready ~= nil and ready.status == "True" then
  return { status = "Healthy", message = describe(ready) }
end
if ready ~= nil and ready.status == "False" then
  return { status = "Degraded", message = describe(ready) }
end
return hs
