#include "eval/report_svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace apex::eval {

namespace {

constexpr double kWidth = 760, kHeight = 480;
constexpr double kLeft = 84, kRight = 36, kTop = 44, kBottom = 64;
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kHeight - kTop - kBottom;

struct Axis {
  bool log = false;
  double lo = 0, hi = 1;      // in axis units (log10 of the value on a log axis)
  std::vector<double> ticks;  // values (not logs)
  double unit(double v) const { return log ? std::log10(v) : v; }
  double fraction(double v) const { return (unit(v) - lo) / (hi - lo); }
};

// 1, 2 or 5 times a power of ten, the smallest not below `raw`.
double nice_step(double raw) {
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p >= raw * (1 - 1e-12)) return m * p;
  }
  return 10 * p;
}

Axis linear_axis(double lo, double hi) {
  if (!(hi > lo)) {
    const double pad = lo != 0 ? std::fabs(lo) * 0.1 : 1.0;
    lo -= pad;
    hi += pad;
  }
  const double pad = (hi - lo) * 0.06;
  lo -= pad;
  hi += pad;
  const double step = nice_step((hi - lo) / 6);
  Axis a;
  a.lo = std::floor(lo / step) * step;
  a.hi = std::ceil(hi / step) * step;
  // Ticks as integer multiples of the step, so each value is one product.
  for (long k = std::lround(a.lo / step); k <= std::lround(a.hi / step); ++k) a.ticks.push_back(k * step);
  return a;
}

Axis log_axis(double lo, double hi) {
  Axis a;
  a.log = true;
  a.lo = std::floor(std::log10(lo));
  a.hi = std::ceil(std::log10(hi));
  if (a.hi <= a.lo) a.hi = a.lo + 1;
  const bool dense = a.hi - a.lo <= 2;
  for (int e = static_cast<int>(a.lo); e <= static_cast<int>(a.hi); ++e) {
    for (double m : {1.0, 2.0, 5.0}) {
      if (m != 1.0 && !dense) continue;
      const double v = m * std::pow(10.0, e);
      if (std::log10(v) <= a.hi + 1e-12) a.ticks.push_back(v);
    }
  }
  return a;
}

std::string tick_text(double v) { return fmt::format("{:g}", v); }

}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_scatter_svg(const ScatterPlot& plot) {
  std::vector<ScatterPoint> pts;
  for (const auto& p : plot.points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y) || (plot.y_log && p.y <= 0)) continue;
    pts.push_back(p);
  }
  double x_lo = 0, x_hi = 1, y_lo = plot.y_log ? 0.1 : 0, y_hi = 1;
  if (!pts.empty()) {
    x_lo = x_hi = pts[0].x;
    y_lo = y_hi = pts[0].y;
    for (const auto& p : pts) {
      x_lo = std::min(x_lo, p.x), x_hi = std::max(x_hi, p.x);
      y_lo = std::min(y_lo, p.y), y_hi = std::max(y_hi, p.y);
    }
  }
  const Axis ax = linear_axis(x_lo, x_hi);
  const Axis ay = plot.y_log ? log_axis(y_lo, y_hi) : linear_axis(y_lo, y_hi);
  auto px = [&](double x) { return kLeft + ax.fraction(x) * kPlotW; };
  auto py = [&](double y) { return kTop + kPlotH - ay.fraction(y) * kPlotH; };

  std::string s;
  auto add = [&s](const std::string& t) { s += t + "\n"; };
  add(fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" )"
                  R"(font-family="sans-serif" font-size="12">)",
                  kWidth, kHeight, kWidth, kHeight));
  add(fmt::format("<title>{}</title>", xml_escape(plot.title)));
  add(fmt::format(R"(<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>)", kWidth, kHeight));
  add(fmt::format(R"(<text x="{}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{}</text>)",
                  kWidth / 2, xml_escape(plot.title)));
  add(fmt::format(R"(<rect class="plot-area" x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#444444"/>)",
                  kLeft, kTop, kPlotW, kPlotH));

  add(R"(<g class="axis-x" data-scale="linear">)");
  for (double v : ax.ticks) {
    const double x = px(v);
    add(fmt::format(R"(<line class="tick-x" data-value="{}" x1="{:.3f}" y1="{}" x2="{:.3f}" y2="{}" stroke="#dddddd"/>)",
                    v, x, kTop, x, kTop + kPlotH));
    add(fmt::format(R"(<text x="{:.3f}" y="{}" text-anchor="middle">{}</text>)", x, kTop + kPlotH + 18, tick_text(v)));
  }
  add(fmt::format(R"(<text x="{}" y="{}" text-anchor="middle">{}</text>)", kLeft + kPlotW / 2, kHeight - 16,
                  xml_escape(plot.x_label)));
  add("</g>");

  add(fmt::format(R"(<g class="axis-y" data-scale="{}">)", plot.y_log ? "log" : "linear"));
  for (double v : ay.ticks) {
    const double y = py(v);
    add(fmt::format(R"(<line class="tick-y" data-value="{}" x1="{}" y1="{:.3f}" x2="{}" y2="{:.3f}" stroke="#dddddd"/>)",
                    v, kLeft, y, kLeft + kPlotW, y));
    add(fmt::format(R"(<text x="{}" y="{:.3f}" text-anchor="end" dominant-baseline="middle">{}</text>)", kLeft - 6, y,
                    tick_text(v)));
  }
  add(fmt::format(R"svg(<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">{}</text>)svg",
                  kTop + kPlotH / 2, kTop + kPlotH / 2, xml_escape(plot.y_label)));
  add("</g>");

  add(R"(<g class="points">)");
  for (const auto& p : pts) {
    add(fmt::format(R"(<circle class="point" data-label="{}" cx="{:.3f}" cy="{:.3f}" r="4.5" fill="{}" stroke="{}">)"
                    R"(<title>{}: {:g}, {:g}</title></circle>)",
                    xml_escape(p.label), px(p.x), py(p.y), p.highlight ? "#d9480f" : "#ffffff",
                    p.highlight ? "#d9480f" : "#1c7ed6", xml_escape(p.label), p.x, p.y));
  }
  add("</g>");
  // Labels: each goes to the first of a few spots around its point whose
  // box (estimated from the text length) overlaps no label placed before it
  // and stays inside the plot; quantizations of one size sit close together.
  struct Box {
    double x0, y0, x1, y1;
    bool hits(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
  };
  std::vector<Box> placed;
  add(R"(<g class="labels" font-size="11">)");
  for (const auto& p : pts) {
    const double x = px(p.x), y = py(p.y);
    const double w = 6.2 * static_cast<double>(p.label.size()), h = 11;
    double best_x = x + 7, best_y = y - 6;
    bool best_left = false;
    for (int ring = 0; ring < 4; ++ring) {
      bool found = false;
      for (int side = 0; side < 4 && !found; ++side) {
        const bool left = side >= 2;
        const double ty = (side % 2 == 0) ? y - 6 - 12 * ring : y + 13 + 12 * ring;
        const double tx = left ? x - 7 : x + 7;
        const Box b{left ? tx - w : tx, ty - h + 2, left ? tx : tx + w, ty + 2};
        if (b.x0 < kLeft || b.x1 > kLeft + kPlotW || b.y0 < kTop || b.y1 > kTop + kPlotH) continue;
        if (std::any_of(placed.begin(), placed.end(), [&](const Box& o) { return o.hits(b); })) continue;
        best_x = tx, best_y = ty, best_left = left, found = true;
      }
      if (found) break;
    }
    placed.push_back({best_left ? best_x - w : best_x, best_y - h + 2, best_left ? best_x : best_x + w, best_y + 2});
    add(fmt::format(R"(<text class="label" x="{:.3f}" y="{:.3f}" text-anchor="{}">{}</text>)", best_x, best_y,
                    best_left ? "end" : "start", xml_escape(p.label)));
  }
  add("</g>");
  add("</svg>");
  return s;
}

}  // namespace apex::eval
