// A small scatter-plot writer for `apex eval --report`: one self-contained
// SVG (no fonts, scripts or links to fetch), linear or log10 axes with
// 1-2-5 ticks, labelled points.
//
// The drawing is regular enough to be read back by a program: every tick is
// <line class="tick-x|tick-y" data-value="V" .../> at the pixel of V, every
// point is <circle class="point" cx cy data-label .../>, and the axes carry
// data-scale="linear|log" on <g class="axis-x|axis-y">. (tests/eval_report
// recovers each point's value from two ticks.)
#pragma once

#include <string>
#include <vector>

namespace apex::eval {

struct ScatterPoint {
  double x = 0, y = 0;
  std::string label;
  bool highlight = false;  // drawn filled in the accent colour (e.g. APEX tiers)
};

struct ScatterPlot {
  std::string title, x_label, y_label;
  bool y_log = false;  // log10 y axis (values must be > 0; others are left out)
  std::vector<ScatterPoint> points;
};

std::string render_scatter_svg(const ScatterPlot& plot);

// Text escaped for XML/HTML content and attribute values.
std::string xml_escape(const std::string& s);

}  // namespace apex::eval
