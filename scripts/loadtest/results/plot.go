package results

import (
	"fmt"
	"image/color"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plots are small (about 600x400 px) so they can be committed.
const (
	plotW = 6 * vg.Inch
	plotH = 4 * vg.Inch
)

var palette = []color.Color{
	color.RGBA{R: 0x0B, G: 0x25, B: 0x45, A: 0xff}, // ANB navy
	color.RGBA{R: 0xE6, G: 0x5F, B: 0x18, A: 0xff},
	color.RGBA{R: 0x2A, G: 0x9D, B: 0x8F, A: 0xff},
	color.RGBA{R: 0x8E, G: 0x44, B: 0xAD, A: 0xff},
	color.RGBA{R: 0xC0, G: 0x39, B: 0x2B, A: 0xff},
	color.RGBA{R: 0x7F, G: 0x8C, B: 0x8D, A: 0xff},
}

// Series is one named line of a LinePlot.
type Series struct {
	Name string
	Pts  plotter.XYs
}

// LinePlot draws the series against a shared x axis into a PNG at path; with
// logX the axis is logarithmic and labelled at exactly the measured x values.
func LinePlot(path, title, xlabel, ylabel string, logX bool, ss ...Series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = vg.Points(-4)
	p.Add(plotter.NewGrid())
	p.Y.Min = 0
	xs := map[float64]bool{}
	for _, s := range ss {
		for _, pt := range s.Pts {
			xs[pt.X] = true
		}
	}
	if logX && len(xs) > 1 { // a log axis needs a range
		// Label exactly the measured levels (1, 8, 64...), on a log scale.
		p.X.Scale = plot.LogScale{}
		seen := map[float64]bool{}
		var ticks []plot.Tick
		for _, s := range ss {
			for _, pt := range s.Pts {
				if !seen[pt.X] {
					seen[pt.X] = true
					ticks = append(ticks, plot.Tick{Value: pt.X, Label: strconv.FormatFloat(pt.X, 'f', -1, 64)})
				}
			}
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
	}
	for i, s := range ss {
		if len(s.Pts) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(s.Pts)
		if err != nil {
			return err
		}
		c := palette[i%len(palette)]
		l.Color = c
		l.Width = vg.Points(1.5)
		if len(s.Pts) > 30 { // a timeline: the line alone reads better
			p.Add(l)
			p.Legend.Add(s.Name, l)
			continue
		}
		pts.Color = c
		pts.Shape = draw.CircleGlyph{}
		p.Add(l, pts)
		p.Legend.Add(s.Name, l, pts)
	}
	return p.Save(plotW, plotH, path)
}

// Plot draws the standard figures of a run with levels (throughput and
// latency percentiles against clients: with two levels or more, or one web
// stage) plus the run's own figures, and returns their file names.
func (r *Run) Plot(dir string) ([]string, error) {
	var out []string
	if len(r.Levels) > 1 || (len(r.Levels) == 1 && r.Mode == "web") {
		var rps, p50, p95, p99 Series
		rps.Name, p50.Name, p95.Name, p99.Name = "requests/s", "p50", "p95", "p99"
		for _, l := range r.Levels {
			x := float64(l.Clients)
			rps.Pts = append(rps.Pts, plotter.XY{X: x, Y: l.RPS})
			p50.Pts = append(p50.Pts, plotter.XY{X: x, Y: l.Latency.P50})
			p95.Pts = append(p95.Pts, plotter.XY{X: x, Y: l.Latency.P95})
			p99.Pts = append(p99.Pts, plotter.XY{X: x, Y: l.Latency.P99})
		}
		xlabel := "concurrent clients"
		if r.Mode == "web" {
			xlabel = "virtual users"
		}
		name := r.Name + "-throughput.png"
		if err := LinePlot(filepath.Join(dir, name), r.Name+": throughput vs load", xlabel, "requests/s", true, rps); err != nil {
			return nil, err
		}
		out = append(out, name)
		name = r.Name + "-latency.png"
		if err := LinePlot(filepath.Join(dir, name), r.Name+": latency percentiles vs load", xlabel, "ms", true, p50, p95, p99); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	for _, f := range r.plots {
		name, err := f(dir)
		if err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	return out, nil
}

// BarPlot draws one labelled bar per value into a PNG at path.
func BarPlot(path, title, ylabel string, labels []string, values []float64) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	bars, err := plotter.NewBarChart(plotter.Values(values), vg.Points(40))
	if err != nil {
		return err
	}
	bars.Color = palette[0]
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(labels...)
	for i, v := range values {
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: float64(i), Y: v}}, Labels: []string{fmt.Sprintf("%.1f", v)}})
		if err != nil {
			return err
		}
		l.Offset = vg.Point{X: -8, Y: 3}
		p.Add(l)
	}
	p.Y.Max *= 1.12
	return p.Save(plotW, plotH, path)
}
