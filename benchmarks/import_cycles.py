"""Strongly connected components of synthmed's module import graph (every import, lazy ones too)."""
import sys
import grimp

g = grimp.build_graph("synthmed")
mods = sorted(m for m in g.modules if m != "synthmed")
adj = {m: sorted(i for i in g.find_modules_directly_imported_by(m) if i in mods) for m in mods}
index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
    for w in adj[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: out.append(sorted(comp))
for m in mods:
    if m not in index: visit(m)
print(f"{len(mods)} modules; {len(out)} import cycles (strongly connected groups):")
for comp in sorted(out, key=len, reverse=True):
    print(f"  {len(comp)} modules: " + ", ".join(c.removeprefix('synthmed.') for c in comp))
