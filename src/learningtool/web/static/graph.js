// A notebook's graph, drawn in SVG with a small force layout (no library): entities are
// nodes sized by their degree, relations are lines. Clicking a node, or Enter/Space on it
// (each node is in the Tab order), loads that entity's neighbourhood from the server and adds
// it to the drawing; the panel below names the chosen entity with links to its page and to
// the passages that mention it. The page lists the same entities and relations as links.
"use strict";

(() => {
  const holder = document.getElementById("graph");
  const source = document.getElementById("graph-data");
  if (!holder || !source) return;
  const panel = document.getElementById("graph-selected");
  const SVG = "http://www.w3.org/2000/svg";
  const nodes = new Map();  // name -> {name, degree, x, y, vx, vy, expanded}
  const edges = new Map();  // "a\u0000b" -> {source, target, weight}
  let chosen = null;

  const pageOf = (name) => `${holder.dataset.pageUrl}?entity=${encodeURIComponent(name)}`;

  // Adds entities and relations; new nodes start around `near` (or on a circle).
  const merge = (data, near) => {
    const fresh = data.entities.filter((e) => !nodes.has(e.name));
    fresh.forEach((entity, index) => {
      const angle = (2 * Math.PI * index) / Math.max(fresh.length, 1);
      const radius = near ? 60 : 200;
      const base = near || { x: 0, y: 0 };
      nodes.set(entity.name, {
        name: entity.name, degree: entity.degree || 0,
        x: base.x + radius * Math.cos(angle), y: base.y + radius * Math.sin(angle),
        vx: 0, vy: 0, expanded: false,
      });
    });
    for (const relation of data.relations) {
      if (!nodes.has(relation.source) || !nodes.has(relation.target)) continue;
      const key = [relation.source, relation.target].sort().join("\u0000");
      if (!edges.has(key)) edges.set(key, relation);
    }
    return fresh.length;
  };

  // A few hundred steps of repulsion between all nodes, springs along relations, and a pull
  // to the middle; small graphs (tens to a couple of hundred nodes) settle well enough.
  const layout = (steps) => {
    const all = Array.from(nodes.values());
    for (let step = 0; step < steps; step += 1) {
      const heat = 1 - step / steps;
      for (let i = 0; i < all.length; i += 1) {
        const a = all[i];
        for (let j = i + 1; j < all.length; j += 1) {
          const b = all[j];
          let dx = a.x - b.x, dy = a.y - b.y;
          let d2 = dx * dx + dy * dy;
          if (d2 < 0.01) { dx = (i - j) * 0.1; dy = 0.1; d2 = dx * dx + dy * dy; }
          const push = 2400 / d2;
          a.vx += dx * push; a.vy += dy * push;
          b.vx -= dx * push; b.vy -= dy * push;
        }
      }
      for (const edge of edges.values()) {
        const a = nodes.get(edge.source), b = nodes.get(edge.target);
        const dx = b.x - a.x, dy = b.y - a.y;
        const d = Math.sqrt(dx * dx + dy * dy) || 1;
        const pull = (d - 90) * 0.05;
        a.vx += (dx / d) * pull; a.vy += (dy / d) * pull;
        b.vx -= (dx / d) * pull; b.vy -= (dy / d) * pull;
      }
      for (const node of all) {
        node.vx -= node.x * 0.01; node.vy -= node.y * 0.01;
        const speed = Math.sqrt(node.vx * node.vx + node.vy * node.vy);
        const limit = 20 * heat + 0.5;
        if (speed > limit) { node.vx *= limit / speed; node.vy *= limit / speed; }
        node.x += node.vx; node.y += node.vy;
        node.vx *= 0.5; node.vy *= 0.5;
      }
    }
  };

  const element = (name, attributes) => {
    const made = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
    return made;
  };

  // The drawing fitted to the holder's width: one unit of the picture is one pixel, so the
  // labels keep their size on a phone.
  // Drawn again (a resize, an expansion), a node keeps the keyboard focus it had.
  const draw = () => {
    const active = document.activeElement;
    const focused = active && holder.contains(active) && active.dataset ? active.dataset.name : null;
    paint();
    const again = focused && holder.querySelector(`g.node[data-name="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  };

  const paint = () => {
    const width = Math.max(holder.clientWidth, 280);
    const height = Math.max(Math.round(width * 0.7), 300);
    const all = Array.from(nodes.values());
    const xs = all.map((n) => n.x), ys = all.map((n) => n.y);
    const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
    const margin = 40;
    const scale = Math.min((width - 2 * margin) / Math.max(maxX - minX, 1), (height - 2 * margin) / Math.max(maxY - minY, 1), 1.5);
    const at = (node) => [
      margin + (node.x - minX) * scale + (width - 2 * margin - (maxX - minX) * scale) / 2,
      margin + (node.y - minY) * scale + (height - 2 * margin - (maxY - minY) * scale) / 2,
    ];
    const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, role: "group", "aria-label": "Graph of entities; each entity is a button" });
    const lines = element("g", { class: "edges", "aria-hidden": "true" });
    for (const edge of edges.values()) {
      const [x1, y1] = at(nodes.get(edge.source)), [x2, y2] = at(nodes.get(edge.target));
      lines.append(element("line", { x1, y1, x2, y2, "stroke-width": Math.min(1 + Math.log1p(edge.weight || 1), 4) }));
    }
    svg.append(lines);
    for (const node of all) {
      const [x, y] = at(node);
      const group = element("g", {
        class: `node${node.expanded ? " expanded" : ""}${node.name === chosen ? " chosen" : ""}`,
        transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})`,
        tabindex: "0", role: "button", "data-name": node.name,
        "aria-label": `${node.name}, ${node.degree} relation${node.degree === 1 ? "" : "s"}${node.expanded ? ", neighbours shown" : ": load its neighbours"}`,
      });
      group.append(element("circle", { r: (5 + Math.min(Math.sqrt(node.degree) * 2, 12)).toFixed(1) }));
      const label = element("text", { x: 0, y: -12, "text-anchor": "middle" });
      label.textContent = node.name;
      group.append(label);
      svg.append(group);
    }
    holder.replaceChildren(svg);
  };

  const describe = (name, message) => {
    const node = nodes.get(name);
    panel.replaceChildren();
    const title = document.createElement("p");
    const strong = document.createElement("strong");
    strong.textContent = name;
    title.append(strong, ` · ${node ? node.degree : 0} relations. ${message}`);
    const links = document.createElement("p");
    links.className = "actions";
    const page = document.createElement("a");
    page.href = pageOf(name);
    page.textContent = "Its neighbourhood";
    const passages = document.createElement("a");
    passages.href = `${pageOf(name)}#mentions`;
    passages.textContent = "Passages that mention it";
    links.append(page, passages);
    panel.append(title, links);
  };

  const expand = async (name) => {
    chosen = name;
    const node = nodes.get(name);
    describe(name, "Loading its neighbours…");
    let message;
    try {
      const response = await fetch(`${holder.dataset.dataUrl}?entity=${encodeURIComponent(name)}`, { credentials: "same-origin" });
      const data = await response.json();
      if (!response.ok) {
        message = data.error || `The neighbours could not be loaded (the server answered ${response.status}).`;
      } else {
        const added = merge(data, node);
        node.expanded = true;
        layout(added ? 150 : 0);
        message = added ? `${added} new neighbour${added === 1 ? "" : "s"} shown.` : "All its neighbours were already shown.";
      }
    } catch (_) {
      message = "The neighbours could not be loaded: the server could not be reached.";
    }
    draw();
    describe(name, message);
    const again = holder.querySelector(`g.node[data-name="${CSS.escape(name)}"]`);
    if (again) again.focus();
  };

  holder.addEventListener("click", (event) => {
    const node = event.target.closest("g.node");
    if (node) expand(node.dataset.name);
  });
  holder.addEventListener("keydown", (event) => {
    const node = event.target.closest("g.node");
    if (node && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      expand(node.dataset.name);
    }
  });

  const data = JSON.parse(source.textContent);
  merge(data, null);
  if (data.center && nodes.has(data.center)) {
    nodes.get(data.center).expanded = true;
    chosen = data.center;
  }
  layout(300);
  draw();
  let resized = null;  // drawn again for the new width (a phone turned, a window resized)
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(draw, 150);
  });
})();
