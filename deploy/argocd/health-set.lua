-- Argo CD health check for flowlog.dev/FlowLogPolicySet, following the kstatus conditions the operator writes:
-- no status or a generation not yet observed → Progressing; Stalled=True (PruneBlocked: a prune waits for a
-- person) → Degraded; Reconciling=True (generated policies being created, changed or pruned, even while other
-- targets already fail: the outcome is not known yet) → Progressing; Ready=True (every selected target
-- compliant) → Healthy; Ready=False with nothing under way → Degraded (NotCompliant: a target fails, drifted in
-- Audit mode or got no policy, and the message names the first; DiscoveryFailed), or Progressing for reason
-- Applying.
local hs = { status = "Progressing", message = "Waiting for flowlog-operator to observe the set" }
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
-- The first target that is not compliant, and why (status names up to 20, ordered by ID).
local function first_non_compliant()
  local list = obj.status.nonCompliant
  if list == nil or list[1] == nil then
    return ""
  end
  local first = list[1]
  local text = " First: " .. (first.targetResourceId or "?") .. " (" .. (first.reason or "") .. ")"
  if first.message ~= nil and first.message ~= "" then
    text = text .. ": " .. first.message
  end
  return text
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
  if ready.reason == "Applying" then
    return { status = "Progressing", message = describe(ready) }
  end
  if ready.reason == "NotCompliant" then
    return { status = "Degraded", message = describe(ready) .. first_non_compliant() }
  end
  return { status = "Degraded", message = describe(ready) }
end
return hs
