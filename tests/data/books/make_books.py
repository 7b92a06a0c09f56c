"""Make the sample books in this folder: a 300-row .xlsx exported from a typical Chinese CRM and a
hand-made .csv saved as GBK. Deterministic; tests/test_import.py knows what they contain.

Run: .venv/bin/python tests/data/books/make_books.py
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "苏州"]
WORDS = [
    "华联",
    "星辰",
    "远航",
    "博瑞",
    "中科",
    "恒通",
    "创新",
    "汇智",
    "金桥",
    "天成",
    "东方",
    "鼎盛",
    "睿达",
    "蓝海",
    "宏图",
    "安信",
    "瑞丰",
    "新元",
    "长风",
    "卓越",
    "银河",
    "正大",
    "明德",
    "合众",
    "光大",
    "嘉禾",
    "同创",
    "海纳",
    "启明",
    "云帆",
]
STAGES = ["意向", "洽谈", "报价", "成交", "已成交", "流失", "跟进中", "线索"]
SOURCES = ["展会", "官网", "转介绍", "电话营销"]
OWNERS = ["张三", "李四", "王五"]
CRM_HEADER = [
    "序号",
    "客户名称 ",
    "客户简称",
    "*负责人",
    "销售阶段",
    "客户等级",
    "标签",
    "线索来源",
    "预计金额（万元）",
    "回款金额",
    "下次联系时间",
    "最近跟进时间",
    "跟进记录",
    "联系电话",
    "所在城市",
]


def crm_name(i: int) -> str:
    """The customer of CRM row ``i``."""
    return f"{CITIES[i % 10]}{WORDS[i // 10]}科技有限公司"


def crm_owner(i: int) -> str:
    """Owners come in merged blocks of five rows; block 30 is someone the chat does not know."""
    return "赵六" if i // 5 == 30 else OWNERS[(i // 5) % 3]


def crm_next(i: int) -> object:
    """Next follow-up in the formats real sheets mix: cells, serials and text."""
    day = date(2026, 12, 1) + timedelta(days=i % 20)
    forms = [
        datetime.combine(day, datetime.min.time()).replace(hour=10),
        day,
        (day - date(1899, 12, 30)).days,  # an Excel serial number in a General cell
        f"{day.year}/{day.month}/{day.day}",
        f"{day.year}年{day.month}月{day.day}日 14:30",
    ]
    return forms[i % 5]


def make_crm(path: Path) -> None:
    """The CRM export: two title rows, a merged title, merged owners, a blank row, a 合计 row."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "客户"
    ws.append(["华东区客户台账"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(CRM_HEADER))
    ws.append(["导出时间：2026-11-26 18:00", None, None, "导出人：管理员"])
    ws.append([])
    ws.append(CRM_HEADER)
    row = 5
    for i in range(300):
        if i == 100:
            ws.append([])  # a blank row in the middle
            row += 1
        stage = STAGES[i % len(STAGES)]
        amount: object = [5, 12.5, "8万", 20, 3.6][i % 5]
        if i == 6:
            amount = "约五万"
        closed = stage in ("成交", "已成交", "流失")
        values = [
            i + 1,
            crm_name(i),
            f"{CITIES[i % 10]}{WORDS[i // 10]}" if i % 3 == 0 else None,
            crm_owner(i) if i % 5 == 0 else None,  # the rest of the block is merged
            "暂停" if i == 60 else stage,
            "E" if i == 20 else "ABCD"[i % 4],
            ["重点,华东", "老客户、续约", None][i % 3],
            SOURCES[i % 4],
            amount,
            {"已成交": 50000 if i % 5 == 0 else None}.get(stage),
            None if closed else ("2026/2/30" if i == 41 else crm_next(i)),
            datetime(2026, 11, 1, 9, 30) + timedelta(days=i % 25),
            f"第{i % 7 + 1}次沟通，客户关注价格",
            f"138{i:08d}",
            CITIES[i % 10],
        ]
        ws.append(values)
        if i % 5 == 0:
            ws.merge_cells(start_row=row, start_column=4, end_row=row + 4, end_column=4)
        row += 1
    ws.append([None, "合计", None, None, None, None, None, None, 1234.5])
    notes = wb.create_sheet("说明")
    notes.append(["本表由 CRM 导出，金额单位：万元"])
    wb.save(path)


CSV_ROWS = [
    # 公司名称, 跟进人, 状态, 合同金额, 已回款, 下次跟进, 备注, 来源, 等级, 别名, 标签, 联系人
    [
        "杭州西湖茶业有限公司",
        "张三",
        "跟进中",
        "5万",
        "",
        "12/5",
        "老板很爽快",
        "展会",
        "A",
        "西湖茶业",
        "重点",
        "王总",
    ],
    [
        "宁波港通物流",
        "李四",
        "意向",
        "30000",
        "",
        "2026.12.10",
        "",
        "官网",
        "B",
        "港通",
        "",
        "陈经理",
    ],
    [
        "温州鞋城贸易",
        "王五",
        "洽谈",
        "12,000.50",
        "",
        "2026-12-15",
        "需要样品",
        "转介绍",
        "c",
        "",
        "华东；鞋类",
        "刘姐",
    ],
    [
        "绍兴黄酒集团",
        "张三",
        "已报价",
        "三万五",
        "",
        "46360",
        "报价已发",
        "展会",
        "B级",
        "",
        "",
        "孙总",
    ],
    [
        "嘉兴电子科技有限公司",
        "李四",
        "成交",
        "￥8,800",
        "",
        "",
        "合同已签",
        "官网",
        "A",
        "嘉兴电子",
        "老客户",
        "周工",
    ],
    [
        "湖州丝绸之家",
        "王五",
        "流失",
        "20000",
        "",
        "",
        "价格太高",
        "电话营销",
        "D",
        "",
        "",
        "吴女士",
    ],
    ["", "张三", "跟进中", "10000", "", "", "名字漏填了", "", "", "", "", ""],
    [
        "金华火腿铺子",
        "张三",
        "跟进中",
        "USD 500",
        "",
        "2026年12月20日",
        "外贸客户",
        "展会",
        "B",
        "",
        "",
        "郑总",
    ],
    ["杭州西湖茶业有限公司", "李四", "跟进中", "6万", "", "", "重复的一行", "", "", "", "", ""],
]


def make_csv(path: Path) -> None:
    """The hand-made sheet: a title line, a blank line, spaced headers, 40 rows, GBK."""
    lines = ["2026年客户名单（手工整理）,,,,,,,,,,,", ",,,,,,,,,,,"]
    header = "公司名称, 跟进人 ,状态,合同金额,已回款,下次跟进,备注,来源,等级,别名,标签,联系人"
    lines.append(header)
    rows = [list(r) for r in CSV_ROWS]
    for i in range(40 - len(rows)):
        rows.append(
            [
                f"{CITIES[i % 10]}{WORDS[(i + 7) % 30]}商贸{i + 1}号",
                OWNERS[i % 3],
                ["跟进中", "意向", "已报价"][i % 3],
                f"{(i + 1) * 1000}",
                "",
                f"2026-12-{i % 28 + 1:02d}",
                "",
                SOURCES[i % 4],
                "ABCD"[i % 4],
                "",
                "",
                "",
            ]
        )
    for row in rows:
        lines.append(",".join(f'"{v}"' if "," in v else v for v in row))
    lines.append("合计,,,,,,,,,,,")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))


def main() -> None:
    """Write both books next to this script."""
    make_crm(HERE / "crm_export.xlsx")
    make_csv(HERE / "handmade_gbk.csv")
    print(f"written: {HERE / 'crm_export.xlsx'}, {HERE / 'handmade_gbk.csv'}")


if __name__ == "__main__":
    main()
